"""Score the held-out MILES stars through the app's own readers and write the real-star check.

Usage::

    python scripts/real_star_check.py --model models/batmm-lite-sim [--out docs/results] [--name real-stars]

Steps, each the app's own: the stars are written as 1-D FITS spectra plus a catalogue with
synthesised ugriz (``bhb_viewer.core.real_stars``), built into a data set by ``bhb dataset build``
(the generic FITS reader, air to vacuum, resampling to the grid) and scored by ``bhb score``.
Writes ``NAME.md`` (figures and the per-star table), ``NAME.json`` and ``NAME.png`` (P against
log g and against Teff) under --out; the last line printed is the figures as one JSON object.
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
from bhb_viewer.core.real_stars import AF_TEFF, figures, second_opinion, write_inputs  # noqa: E402

COLUMNS = ("p_bhb", "p_bhb_spectrum")


def score(model: Path, work: Path) -> tuple[Table, Table]:
    catalog, truth = write_inputs(work)
    if bhb(["dataset", "build", "--catalog", str(catalog), "--spectra", str(work), "--out", str(work / "ds"),
            "--partial"]) != 0:
        raise SystemExit("bhb dataset build failed")
    if (
        bhb(
            [
                "score", str(work / "ds"), "--model", str(model), "--out", str(work / "scores.ecsv"), "--workers", "0",
                "--json",
            ]
        )
        != 0
    ):
        raise SystemExit("bhb score failed")
    scores = Table.read(work / "scores.ecsv", format="ascii.ecsv")
    index = {str(v): i for i, v in enumerate(scores["id"])}
    rows = np.array([index.get(str(v), -1) for v in truth["miles_id"]])
    if (rows < 0).any():
        raise SystemExit(f"{int((rows < 0).sum())} held-out stars were not scored")
    return truth, scores[rows]


def _plot(truth: Table, scores: Table, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), sharey=True)
    group = np.asarray(truth["group"])
    for ax, x, xlabel in ((axes[0], truth["logg"], "log g (MILES)"), (axes[1], truth["teff"], "Teff (K, MILES)")):
        for g, colour, label in (
            ("other", "0.75", "other"), ("dwarf", "tab:red", "dwarf"), ("hb_like", "tab:blue", "HB-like"),
        ):
            sel = group == g
            ax.scatter(x[sel], scores["p_bhb"][sel], c=colour, s=22, label=label, edgecolors="none")
        ax.axhline(0.5, color="0.5", lw=0.8, ls="--")
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("P(BHB)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _signed(value: float | None) -> str:
    return "undefined" if value is None else f"{value:+.3f}"


def _markdown(model: Path, result: dict, truth: Table, scores: Table) -> str:
    lines = [
        f"# Real-star check: held-out MILES stars scored by `{model.name}`",
        "",
        "Made by `scripts/real_star_check.py` (see `bhb_viewer/core/real_stars.py` for how the stars become files).",
        f"Model version `{result['model_version']}`. HB-like: log g ≤ 3.6, [Fe/H] ≤ −0.8, "
        "7,000–10,500 K; dwarfs: log g ≥ 3.8, same Teff. AUC interval: 95 % bootstrap over stars.",
        "",
        "| score | n HB-like / dwarfs | AUC [95 %] | HB-like at P ≥ 0.5 | dwarfs' median P | dwarfs "
        "at P ≥ 0.5 | Spearman(log g, P) | Spearman([Fe/H], P), dwarfs | Spearman(Teff, P), dwarfs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for col in COLUMNS:
        f = result[col]
        lines.append(
            f"| `{col}` | {f['n_hb_like']} / {f['n_dwarf']} | {f['auc']:.3f} [{f['auc_95'][0]:.3f}, "
            f"{f['auc_95'][1]:.3f}] | {f['hb_like_share_p_ge_0.5']:.2f} | {f['dwarf_median_p']:.3f} "
            f"| {f['dwarf_share_p_ge_0.5']:.2f} | {_signed(f['spearman_logg_p'])} | "
            f"{_signed(f['spearman_feh_p_dwarfs'])} | {_signed(f['spearman_teff_p_dwarfs'])} |"
        )
    if "second_opinion" in result:
        s = result["second_opinion"]
        lines += [
            "",
            "## The physical second opinion and the trust flags",
            "",
            "`logg_fit` (the engine-template fit, `bhb score`'s second opinion): AUC of "
            f"−logg_fit, HB-like ({s['n_hb_like']}) against dwarfs ({s['n_dwarf']}): "
            f"**{s['auc_minus_logg_fit']:.3f}** [{s['auc_95'][0]:.3f}, {s['auc_95'][1]:.3f}].",
            f"Over the {s['n_af']} A/F stars ({AF_TEFF[0]:,.0f}–{AF_TEFF[1]:,.0f} K), fit minus MILES: "
            f"Teff {s['teff_bias_af']:+.0f} ± {s['teff_rms_af']:.0f} K, log g {s['logg_bias_af']:+.2f} ± "
            f"{s['logg_rms_af']:.2f}, [Fe/H] {s['feh_bias_af']:+.2f} ± {s['feh_rms_af']:.2f} (mean ± sd).",
            f"Flagged out of distribution (`ood:` or `sky:`): {s['ood_share_af']:.1%} of the A/F stars "
            f"({s['ood_share_af_in_colour_range']:.1%} of the {s['n_af_in_colour_range']} inside the training "
            f"sky's colour range, the ones a candidate selection keeps), {s['ood_share_hb_dwarf']:.1%} of the "
            f"HB-like and dwarf stars, {s['ood_share_all']:.1%} of all held-out stars. Flags among the A/F stars: "
            + ", ".join(f"`{k}` {v}" for k, v in sorted(s["flag_counts_af"].items()))
            + ".",
            "The stars are placed at g = 18 (MILES fluxes have no absolute scale); "
            "`gappy` is MILES's end at 7,400 Å (a quality flag, not out of distribution).",
        ]
    lines += [
        "",
        "![P(BHB) against log g](" + result["plot"] + ")",
        "",
        "## Every held-out star",
        "",
        "| MILES | name | Teff | log g | [Fe/H] | group | u−g | g−r | p_bhb "
        "| p_bhb_spectrum | score_from | teff_fit | logg_fit | flags |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = np.lexsort((np.asarray(truth["teff"]), np.asarray(truth["group"])))
    for i in order:
        ug = scores["u"][i] - scores["g"][i] if "u" in scores.colnames else np.nan
        gr = scores["g"][i] - scores["r"][i] if "g" in scores.colnames else np.nan
        src = scores["score_from"][i] if "score_from" in scores.colnames else ""
        fit = (f" {scores['teff_fit'][i]:.0f} | {scores['logg_fit'][i]:.2f} | {scores['flags'][i] or ''} |"
               if "logg_fit" in scores.colnames else " | | |")
        lines.append(
            f"| {truth['miles_id'][i]} | {truth['name'][i]} | {truth['teff'][i]:.0f} | {truth['logg'][i]:.2f} | "
            f"{truth['feh'][i]:+.2f} | {truth['group'][i]} | {ug:.3f} | {gr:.3f} | {scores['p_bhb'][i]:.3f} | "
            f"{scores['p_bhb_spectrum'][i]:.3f} | {src} |" + fit
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--name", default="real-stars")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        truth, scores = score(args.model, Path(tmp))
    result: dict = {"model": str(args.model), "model_version": str(scores["model_version"][0])}
    for col in COLUMNS:
        result[col] = figures(truth, np.asarray(scores[col], dtype=float))
    if "logg_fit" in scores.colnames:
        result["second_opinion"] = second_opinion(truth, scores)
    result["plot"] = f"{args.name}.png"
    args.out.mkdir(parents=True, exist_ok=True)
    _plot(truth, scores, args.out / result["plot"], f"{args.model.name}: held-out MILES stars")
    (args.out / f"{args.name}.md").write_text(_markdown(args.model, result, truth, scores))
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
