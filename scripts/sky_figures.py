"""Figures of a simulated data set's population: shares by kind, coverage rejections, colours.

Usage::

    python scripts/sky_figures.py DATASET [--out docs/results] [--name sky3]

Writes NAME.png (u−g against g−r, dereddened, BHB stars beside the high-gravity stars of the same
Teff range) and NAME.json (kind shares after the colour box, the draws the engine's coverage test
rejected, median u−g of BHB and high-gravity stars in g−r bins, and the same for the Xue et al.
2011 BHB sample when --reference is given); the last line printed is the JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bhb_viewer.core.dataset import open_dataset  # noqa: E402
from bhb_viewer.core.sim import read_truth  # noqa: E402
from bhb_viewer.core.sim.calibration import dereddened, read_reference  # noqa: E402

GR_BINS = (-0.4, -0.3, -0.2, -0.1, 0.0)


def _medians(gr: np.ndarray, ug: np.ndarray) -> list:
    out = []
    for lo, hi in itertools.pairwise(GR_BINS):
        sel = (gr > lo) & (gr <= hi)
        out.append(
            {
                "g_r": [lo, hi],
                "n": int(sel.sum()),
                "u_g_median": round(float(np.median(ug[sel])), 3) if sel.any() else None,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--name", default="sky3")
    ap.add_argument(
        "--reference", type=Path, default=ROOT / "bhb_viewer" / "resources" / "catalogs" / "xue2011_bhb.dat"
    )
    args = ap.parse_args(argv)
    data = open_dataset(args.dataset)
    truth = read_truth(args.dataset)
    cat = data.catalog
    ug, gr = dereddened(cat, "u", "g"), dereddened(cat, "g", "r")
    kind = np.asarray(truth["kind"])
    bhb = np.asarray(truth["label_physical"]) == 1
    teff, logg = np.asarray(truth["teff"]), np.asarray(truth["logg"])
    lo, hi = np.percentile(teff[bhb], [5, 95])
    high_g = (logg >= 3.8) & (teff >= lo) & (teff <= hi)
    kinds, counts = np.unique(kind, return_counts=True)
    result = {
        "dataset": str(args.dataset),
        "n": len(cat),
        "provenance_engine": data.manifest["provenance"].get("engine"),
        "kind_shares": {str(k): round(int(c) / len(cat), 4) for k, c in zip(kinds, counts, strict=True)},
        "coverage_rejections": dict(cat.meta.get("coverage_rejections", {})),
        "bhb_teff_p5_p95": [round(float(lo)), round(float(hi))],
        "u_g_by_g_r": {"bhb": _medians(gr[bhb], ug[bhb]), "log_g_ge_3.8_same_teff": _medians(gr[high_g], ug[high_g])},
    }
    ref = None
    if args.reference.is_file():
        ref = read_reference(args.reference)
        result["u_g_by_g_r"]["xue2011_bhb"] = _medians(np.asarray(ref["g_r"], float), np.asarray(ref["u_g"], float))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    if ref is not None:
        ax.scatter(ref["g_r"], ref["u_g"], s=2, c="0.8", label="Xue 2011 BHB (real)", rasterized=True)
    ax.scatter(gr[high_g], ug[high_g], s=3, c="tab:red", alpha=0.5, label=f"sim log g ≥ 3.8, {lo:.0f}–{hi:.0f} K")
    ax.scatter(gr[bhb], ug[bhb], s=3, c="tab:blue", alpha=0.5, label="sim BHB")
    ax.set_xlim(-0.45, 0.05)
    ax.set_ylim(0.75, 1.65)
    ax.set_xlabel("g − r (dereddened)")
    ax.set_ylabel("u − g (dereddened)")
    ax.set_title(f"{args.dataset.name}: u−g carries the Balmer jump", fontsize=9)
    ax.legend(frameon=False, fontsize=7, markerscale=3)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / f"{args.name}.png", dpi=110)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
