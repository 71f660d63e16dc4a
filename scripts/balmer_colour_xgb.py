"""Table 8's extra row: XGBoost on the classical Balmer parameters plus the catalogue colours.

Usage::

    python scripts/balmer_colour_xgb.py DATASET --seeds 0,1,2 [--out FILE.json] [--observed]

What an astronomer would build without a network: the Balmer-line diagnostics of Xue et al.
(D0.2, fm of Hδ, b and c of Hγ, measured by this project's own fit on the observed spectra) and
the colours u−g, g−r, r−i, i−z (dereddened with the catalogue's extinction as a photometry model
reads them, ``ml.photometry``; ``--observed`` as observed), into gradient-boosted trees. Each seed uses ``bhb train``'s
own split (``ml.data.stratified_split``), so its test stars are the networks' test stars. The last
line printed is one JSON object: per seed and mean ± sd, macro F1 (%) and AUC on the test split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bhb_viewer.core.dataset import open_dataset  # noqa: E402
from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes, dereddened_bands  # noqa: E402
from bhb_viewer.core.science.balmer import measure_arrays  # noqa: E402
from bhb_viewer.ml.data import stratified_split  # noqa: E402
from bhb_viewer.ml.training import scores_report  # noqa: E402

BALMER = ("d02", "fm", "b_hg", "c_hg")


def features(dataset, dereddened: bool = True) -> np.ndarray:
    """N × 8: the four Balmer diagnostics (NaN where the fit failed: the trees route them) and four colours."""
    spectra, ivar = np.asarray(dataset.spectra, dtype=np.float32), np.asarray(dataset.ivar, dtype=np.float32)
    measured = measure_arrays(spectra, ivar)
    mags = catalog_magnitudes(dataset.catalog)
    bands = dereddened_bands(mags) if dereddened else mags[:, :5]
    cols = [np.asarray(measured[k], dtype=float) for k in BALMER]
    return np.column_stack([*cols, bands[:, :-1] - bands[:, 1:]])


def classifier(seed: int):
    """The trees of this row, stopped early on a validation split (``fit(..., eval_set=...)``)."""
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=400, max_depth=4, learning_rate=0.05, subsample=0.8, random_state=seed,
                         early_stopping_rounds=30, eval_metric="logloss")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--test", type=Path, help="also score this data set whole (e.g. a fresh sky) with each seed's model"
    )
    ap.add_argument(
        "--observed", action="store_true", help="observed colours (default: dereddened with the catalogue's extinction)"
    )
    args = ap.parse_args(argv)
    data = open_dataset(args.dataset)
    x, y = features(data, not args.observed), np.asarray(data.labels)
    test_set = open_dataset(args.test) if args.test else None
    x_test = None if test_set is None else features(test_set, not args.observed)
    per_seed = {}
    for seed in (int(s) for s in args.seeds.split(",") if s):
        train, val, test = stratified_split(y, seed)
        model = classifier(seed)
        model.fit(x[train], y[train], eval_set=[(x[val], y[val])], verbose=False)
        p = model.predict_proba(x[test])[:, 1]
        report = scores_report(y[test], p)
        per_seed[seed] = {"f1": round(100 * report["macro"]["f1"], 2), "auc": round(float(report["auc"]), 4)}
        if test_set is not None:
            other = scores_report(np.asarray(test_set.labels), model.predict_proba(x_test)[:, 1])
            per_seed[seed]["other_set"] = {
                "f1": round(100 * other["macro"]["f1"], 2),
                "auc": round(float(other["auc"]), 4),
            }
    f1 = np.array([v["f1"] for v in per_seed.values()])
    auc = np.array([v["auc"] for v in per_seed.values()])
    result = {
        "model": "xgboost on Balmer parameters + colours",
        "colours": "observed" if args.observed else "dereddened",
        "dataset": str(args.dataset),
        "per_seed": per_seed,
        "f1_mean": round(float(f1.mean()), 2),
        "f1_sd": round(float(f1.std(ddof=1)) if f1.size > 1 else 0.0, 2),
        "auc_mean": round(float(auc.mean()), 4),
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
