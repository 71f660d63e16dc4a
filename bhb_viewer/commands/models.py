"""``bhb models``: the model registry with each size's parameter count (a stable, checked output)."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the registry as one JSON object")


def run(args: argparse.Namespace) -> int:
    from bhb_viewer.ml.models import SIZE_NAMES, list_models

    rows = list_models()
    if args.json:
        print(json.dumps({"models": rows, "sizes": list(SIZE_NAMES)}, indent=2))
        return 0
    header = f"{'name':<22} {'modalities':<16}" + "".join(f"{s + ' params':>15}" for s in SIZE_NAMES) + "  description"
    print(header)
    for r in rows:
        counts = "".join(f"{r['sizes'][s]:>15,}" for s in SIZE_NAMES)
        print(f"{r['name']:<22} {'+'.join(r['modalities']):<16}{counts}  {r['description']} ({r['paper']})")
    return 0
