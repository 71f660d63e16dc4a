"""The physical second opinion and the trust flags on a simulated sky: how well the template fit
recovers the truth, how well −logg_fit and the Teff–log g box separate BHB stars, and how many
stars the flags call out of distribution.

Usage::

    python scripts/second_opinion_check.py --sky SKY_DIR --scores SCORES [--out docs/results] [--name second-opinion]

``SKY_DIR`` is a ``bhb simulate`` data set (its ``truth.ecsv`` holds the parameters), ``SCORES`` its
``bhb score`` output. Writes NAME.md and NAME.json; the last line printed is the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from astropy.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bhb_viewer.core.science.metrics import auc, report_from_confusion, roc_curve  # noqa: E402
from bhb_viewer.core.science.stellar_fit import BOX_LOGG_MAX, BOX_TEFF  # noqa: E402
from bhb_viewer.core.science.trust import is_ood  # noqa: E402


def _strings(column) -> np.ndarray:
    return np.asarray(column.filled("") if hasattr(column, "filled") else column).astype(str)


def figures(truth: Table, scores: Table) -> dict:
    label = np.asarray(truth["label_physical"], dtype=np.int64)
    kind = np.asarray(truth["kind"]).astype(str)
    out: dict = {"n": len(truth), "per_kind": {}}
    for k in sorted(set(kind)):
        sel = kind == k
        row = {"n": int(sel.sum())}
        for fit, true in (("teff_fit", "teff"), ("logg_fit", "logg"), ("feh_fit", "feh"), ("rv_fit", "rv")):
            d = np.asarray(scores[fit], float)[sel] - np.asarray(truth[true], float)[sel]
            d = d[np.isfinite(d)]
            row[f"{true}_median_offset"] = round(float(np.median(d)), 3)
            row[f"{true}_robust_sd"] = round(float(1.4826 * np.median(np.abs(d - np.median(d)))), 3)
        out["per_kind"][k] = row
    minus_logg = -np.asarray(scores["logg_fit"], float)
    ok = np.isfinite(minus_logg)
    fpr, tpr, _ = roc_curve(label[ok], minus_logg[ok])
    out["auc_minus_logg_fit"] = round(auc(fpr, tpr), 3)
    box = np.asarray(scores["box_bhb"]).astype(bool)
    cm = np.bincount(2 * label + box, minlength=4).reshape(2, 2)
    rep = report_from_confusion(cm)
    out["box"] = {"teff": list(BOX_TEFF), "logg_max": BOX_LOGG_MAX, "purity": round(rep["BHB"]["precision"], 3),
                  "completeness": round(rep["BHB"]["recall"], 3), "macro_f1": round(rep["macro"]["f1"], 3)}
    flags = _strings(scores["flags"])
    ood = is_ood(flags)
    out["ood_share"] = round(float(ood.mean()), 4)
    out["ood_share_bhb"] = round(float(ood[label == 1].mean()), 4)
    words: dict[str, int] = {}
    for s in flags:
        for w in filter(None, s.split(";")):
            key = w.split(":")[0] if w.startswith("gappy") else w
            words[key] = words.get(key, 0) + 1
    out["flag_counts"] = dict(sorted(words.items()))
    return out


def markdown(result: dict, sky: str, scores: str) -> str:
    lines = [
        "# The physical second opinion and the trust flags on a simulated sky",
        "",
        f"Made by `scripts/second_opinion_check.py` from `{sky}` "
        f"(truth) and `{scores}` (`bhb score` with the shipped model).",
        f"{result['n']} stars. The fit is `bhb_viewer/core/science/stellar_fit.py`; "
        "the flags `bhb_viewer/core/science/trust.py`.",
        "",
        f"* AUC of −logg_fit, BHB against every other kind: **{result['auc_minus_logg_fit']:.3f}**",
        f"* Teff–log g box ({result['box']['teff'][0]:,.0f}–{result['box']['teff'][1]:,.0f} K, log "
        f"g < {result['box']['logg_max']}): purity **{result['box']['purity']:.3f}**, completeness "
        f"**{result['box']['completeness']:.3f}**, macro F1 {result['box']['macro_f1']:.3f}",
        f"* flagged out of distribution (`ood:`/`sky:`): **{result['ood_share']:.2%}** "
        f"of all stars, {result['ood_share_bhb']:.2%} of the BHB stars",
        "",
        "Flag counts: " + ", ".join(f"`{k}` {v}" for k, v in result["flag_counts"].items()) + ".",
        "",
        "## Fit minus truth, per kind (median offset, robust sd)",
        "",
        "| kind | n | Teff (K) | log g | [Fe/H] | v (km/s) |",
        "|---|---|---|---|---|---|",
    ]
    for k, r in result["per_kind"].items():
        lines.append(f"| {k} | {r['n']} | {r['teff_median_offset']:+.0f} ± {r['teff_robust_sd']:.0f} | "
                     f"{r['logg_median_offset']:+.2f} ± {r['logg_robust_sd']:.2f} | {r['feh_median_offset']:+.2f} ± "
                     f"{r['feh_robust_sd']:.2f} | {r['rv_median_offset']:+.1f} ± {r['rv_robust_sd']:.1f} |")
    lines += ["", "The fit sees 4,000–7,300 Å only: without the Balmer jump, Teff and log g of A stars are partly "
              "degenerate in the Balmer lines, so the BHB stars' fitted log g runs high and their Teff hot; "
              "the ranking (AUC) is what the box and the flags use."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sky", required=True, type=Path)
    ap.add_argument("--scores", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--name", default="second-opinion")
    args = ap.parse_args(argv)
    truth, scores = Table.read(args.sky / "truth.ecsv"), Table.read(args.scores)
    if list(truth["id"]) != list(scores["id"]):
        raise SystemExit("the scores' rows are not the sky's: score the data set itself")
    result = figures(truth, scores)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.md").write_text(markdown(result, args.sky.name, args.scores.name))
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
