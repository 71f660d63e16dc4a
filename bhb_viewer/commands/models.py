"""``bhb models``: the model registry with each size's parameter count (a stable, checked output),
the spectral baselines, and the checkpoints the app knows (shipped, trained, recently used)."""

from __future__ import annotations

import argparse
import json

BASELINE_ROWS = (
    {"name": "svm", "description": "RBF support-vector machine on the preprocessed spectrum", "paper": "Table 8"},
    {"name": "xgboost", "description": "gradient-boosted trees on the preprocessed spectrum", "paper": "Table 8"},
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the registry as one JSON object")
    parser.add_argument("--data-dir", metavar="DIR", help="the app's data folder (trained models, models.json)")


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from bhb_viewer.core.training.model_index import ModelIndex
    from bhb_viewer.ml.models import SIZE_NAMES, list_models

    rows = [{**r, "kind": "network"} for r in list_models()]
    available = {"svm": "sklearn", "xgboost": "xgboost"}
    rows += [{**b, "modalities": ["spectrum"], "sizes": dict.fromkeys(SIZE_NAMES), "kind": "baseline",
              "available": importlib.util.find_spec(available[b["name"]]) is not None} for b in BASELINE_ROWS]
    index = ModelIndex(args.data_dir)
    checkpoints = [e.to_dict() for e in index.entries()]
    active = index.active()
    if args.json:
        print(json.dumps({"models": rows, "sizes": list(SIZE_NAMES), "checkpoints": checkpoints,
                          "active": None if active is None else active.path}, indent=2))
        return 0
    header = f"{'name':<22} {'modalities':<16}" + "".join(f"{s + ' params':>15}" for s in SIZE_NAMES) + "  description"
    print(header)
    for r in rows:
        counts = "".join(f"{r['sizes'][s]:>15,}" if r["sizes"][s] is not None else f"{'-':>15}" for s in SIZE_NAMES)
        print(f"{r['name']:<22} {'+'.join(r['modalities']):<16}{counts}  {r['description']} ({r['paper']})")
    print("\ncheckpoints (* active):")
    for e in checkpoints:
        f1 = f"F1 {e['metrics']['f1']:.3f}" if "f1" in e["metrics"] else "no test metrics"
        state = f"  [{e['problem']}]" if e["problem"] else ""
        mark = "*" if e["active"] else " "
        print(f" {mark} {e['label']:<24} {e['origin']:<8} {e['version'] or '-':<28} {f1:<16} "
              f"{e['created'][:10]:<10} data {e['dataset_hash'][:10] or '-'}  {e['path']}{state}")
    return 0
