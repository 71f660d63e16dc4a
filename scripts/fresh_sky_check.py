"""A model on a fresh simulated sky: fusion, each head and the classical cuts, and gravity against metallicity.

Usage::

    python scripts/fresh_sky_check.py DATASET --model DIR [--out FILE.json]

DATASET is a simulated set the model never saw (``bhb simulate --seed 99 ...``), scored with
``bhb score``. Reported per score column (``p_bhb``, ``p_bhb_spectrum``, ``p_bhb_image``, and the
classical cuts, whose AUC is their balanced accuracy): AUC, macro F1 and BHB F1 at P ≥ 0.5; then
BHB stars against metal-poor blue stragglers of the same [Fe/H] range (the BHB stars' 5–95 %),
where only gravity tells them apart, for ``p_bhb`` and for the spectrum head (lines only: no
photometry, 4,000 Å onwards). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bhb_viewer.cli import main as bhb  # noqa: E402
from bhb_viewer.core.science.metrics import auc, classification_report, roc_curve  # noqa: E402
from bhb_viewer.core.science.real_stars import auc as rank_auc  # noqa: E402
from bhb_viewer.core.sim import read_truth  # noqa: E402

COLUMNS = ("p_bhb", "p_bhb_spectrum", "p_bhb_image", "classical_bhb")


def metal_poor_bss(truth: Table) -> tuple[np.ndarray, tuple[float, float]]:
    """Blue stragglers inside the BHB stars' 5–95 % [Fe/H] range, and that range: only gravity separates these."""
    feh, kind = np.asarray(truth["feh"]), np.asarray(truth["kind"])
    lo, hi = np.percentile(feh[np.asarray(truth["label_physical"]) == 1], [5, 95])
    return (kind == "blue straggler") & (feh >= lo) & (feh <= hi), (float(lo), float(hi))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        scores = Path(tmp) / "scores.ecsv"
        if (
            bhb(
                [
                    "score", str(args.dataset), "--model", str(args.model), "--out", str(scores), "--workers", "0",
                    "--json",
                ]
            )
            != 0
        ):
            raise SystemExit("bhb score failed")
        t = Table.read(scores, format="ascii.ecsv")
    truth = read_truth(args.dataset)
    y = np.asarray(truth["label_physical"], dtype=int)
    result: dict = {"dataset": str(args.dataset), "model": str(args.model), "n": len(t), "n_bhb": int(y.sum())}
    for col in COLUMNS:
        p = np.nan_to_num(np.asarray(t[col], dtype=float), nan=0.0)
        fpr, tpr, _ = roc_curve(y, p)
        rep = classification_report(y, (p >= 0.5).astype(int))
        result[col] = {"auc": round(float(auc(fpr, tpr)), 4), "macro_f1": round(100 * rep["macro"]["f1"], 2),
                       "bhb_f1": round(100 * rep["BHB"]["f1"], 2)}
    bss, (lo, hi) = metal_poor_bss(truth)
    result["bhb_vs_metal_poor_bss"] = {"feh_range": [round(float(lo), 2), round(float(hi), 2)], "n_bhb": int(y.sum()),
                                       "n_bss": int(bss.sum())}
    for col in ("p_bhb", "p_bhb_spectrum"):
        p = np.asarray(t[col], dtype=float)
        result["bhb_vs_metal_poor_bss"][col] = round(rank_auc(p[y == 1], p[bss]), 4)
    result["score_from"] = {
        str(k): int(v) for k, v in zip(*np.unique(np.asarray(t["score_from"]), return_counts=True), strict=True)
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
