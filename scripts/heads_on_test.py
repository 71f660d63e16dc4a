"""Each modality head of trained BATMM-family runs on their own test split, beside the fusion score.

    python scripts/heads_on_test.py DATASET RUN_DIR [RUN_DIR ...] [--json OUT]

Table 8 compares separately trained models, whose test-split differences at a few hundred stars
are within seed noise. A fusion run's own spectrum and image heads (stages 1 and 2, kept in the
checkpoint) scored on the same test stars give a paired comparison: does the fusion stage add to
the encoders it is built on? Prints one line per run, then one JSON object (the mean over runs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bhb_viewer.core.dataset import open_dataset  # noqa: E402
from bhb_viewer.core.errors import read_json  # noqa: E402
from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes  # noqa: E402
from bhb_viewer.ml.inference import Predictor  # noqa: E402
from bhb_viewer.ml.training import scores_report  # noqa: E402

HEADS = {"fusion": "p_bhb", "spectrum": "p_bhb_spectrum", "image": "p_bhb_image"}


def run_heads(dataset, run: Path) -> dict[str, dict[str, float]]:
    """Macro-F1 and AUC of the fusion score and of each head on ``run``'s test split."""
    rows = np.asarray(read_json(run / "test.json")["row"], dtype=np.int64)
    predictor = Predictor(run, device="cpu")
    parts = list(predictor.predict(dataset.spectra[rows], dataset.ivar[rows], dataset.cutouts[rows], batch_size=256,
                                   mags=catalog_magnitudes(dataset.catalog)[rows]))
    labels = np.asarray(dataset.labels)[rows]
    out = {}
    for head, attr in HEADS.items():
        if any(getattr(p, attr) is None for p in parts):
            continue
        p = np.concatenate([np.asarray(getattr(part, attr), dtype=np.float64) for part in parts])
        report = scores_report(labels, p)
        out[head] = {"macro_f1": report["macro"]["f1"], "auc": report["auc"]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--json", type=Path, help="also write the per-run figures here")
    args = parser.parse_args()
    dataset = open_dataset(args.dataset)
    results = {}
    for run in args.runs:
        results[run.name] = heads = run_heads(dataset, run)
        print(run.name, "  ".join(f"{h} F1 {v['macro_f1']:.4f} AUC {v['auc']:.4f}" for h, v in heads.items()))
    names = sorted({h for r in results.values() for h in r})
    mean = {
        h: {k: float(np.mean([r[h][k] for r in results.values() if h in r])) for k in ("macro_f1", "auc")}
        for h in names
    }
    if args.json:
        args.json.write_text(json.dumps({"runs": results, "mean": mean}, indent=1))
    print(json.dumps({"n_runs": len(results), "mean": mean}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
