"""Turn the outputs of ``scripts/gpu_sky.py`` (its $OUT folder) into docs/results/ and the model card.

    python scripts/sky_results.py OUT_DIR [--install-model]

OUT_DIR is the folder the run wrote (``sky_results.tar.gz`` in it is unpacked first) or the
unpacked ``sky_results`` folder itself.

Writes ``docs/results/table8-sim-xue.md`` and ``docs/results/table8-sim-physical.md`` (Table 8 in
the paper's layout over the seeds every model finished, the image-only model under both image
scalings, the paper-size BATMM row, the simulator's realism figures and the fm fit-window table)
and, with ``--install-model``, copies the shipped checkpoint into ``models/batmm-lite-sim`` and
rewrites its model card. Every number comes from the files; the "Reading" paragraphs state what
the numbers show (orderings, gaps) mechanically, and are for a person to extend, not to replace.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bhb_viewer.ml.evaluation import TABLE8_NAMES, format_table8, summarize  # noqa: E402

LABEL_TEXT = {
    "xue": "Xue-cut labels (the paper's: positives pass the Xue 2011 cuts as an independent catalogue measured them)",
    "physical": "physical labels (horizontal-branch gravity; the classical cuts are a fair competitor only here)",
}


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _table(out: Path, key: str) -> dict | None:
    """``bhb evaluate``'s table8.json, or, where no seed finished every model, one built from each
    model's own finished runs (then the rows may rest on different seeds: ``n`` says how many)."""
    results = _load(out / f"table8-{key}" / "table8.json")
    if results is not None:
        return results
    runs: dict[str, list[dict]] = {}
    for path in sorted((out / f"table8-{key}" / "runs").glob("*/test_metrics.json")):
        metrics = json.loads(path.read_text())
        runs.setdefault(metrics["model"], []).append(metrics)
    if not runs:
        return None
    order = [m for m in TABLE8_NAMES if m in runs] + [m for m in runs if m not in TABLE8_NAMES]
    seeds = sorted({r["seed"] for rs in runs.values() for r in rs})
    return {"models": {m: {"summary": summarize(runs[m])} for m in order}, "seeds": seeds,
            "size": next(iter(runs.values()))[0].get("size"), "dataset": key, "partial": True}


def _brief(value) -> str:
    """A figure for a table cell: floats to 3 significant digits, no pipes."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_brief(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "–".join(_brief(v) for v in value)
    return str(value).replace("|", "/")


def _pct(stat: dict) -> str:
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def _extra_rows(out: Path, lab: str) -> list[str]:
    rows = []
    minmax = _table(out, f"{lab}-minmax")
    if minmax and "image_resnet_se" in minmax["models"]:
        s = minmax["models"]["image_resnet_se"]["summary"]
        rows.append(
            "| Image-only | ResNet + SE, spec min–max scaling (Eq. 14) | "
            f"{_pct(s['macro_precision'])} | {_pct(s['macro_recall'])} | {_pct(s['macro_f1'])} "
            f"| {s['auc']['mean']:.4f} ± {s['auc']['std']:.4f} | {s['n_seeds']} |"
        )
    paper = _load(out / "paper" / "test_metrics.json")
    if paper and lab == "xue":
        m = paper["macro"]
        rows.append(
            f"| Multimodal | BATMM, paper size (seed {paper.get('seed', 0)}, one run) | {100 * m['precision']:.2f} "
            f"| {100 * m['recall']:.2f} | {100 * m['f1']:.2f} | {paper['auc']:.4f} | 1 |"
        )
    return rows


def _reading(results: dict, out: Path, lab: str) -> list[str]:
    """Orderings and gaps, read off the numbers."""
    models = results["models"]

    def f1(name: str) -> float | None:
        return models[name]["summary"]["macro_f1"]["mean"] if name in models else None

    def auc(name: str) -> float | None:
        return models[name]["summary"]["auc"]["mean"] if name in models else None

    lines = []
    spectrum = [m for m in ("svm", "xgboost", "spectrum_vgg1d_sa") if f1(m) is not None]
    multimodal = [m for m in ("early_add", "early_concat", "vgg1d_fusion", "batmm") if f1(m) is not None]
    if f1("image_resnet_se") is not None:
        lines.append(
            f"- Image-only (ratio-preserving scaling): macro F1 {100 * f1('image_resnet_se'):.1f} "
            f"%, AUC {auc('image_resnet_se'):.3f} (paper: 73 % F1; expected 70–78 %)."
        )
    minmax = _table(out, f"{lab}-minmax")
    if minmax and "image_resnet_se" in minmax["models"]:
        s = minmax["models"]["image_resnet_se"]["summary"]
        lines.append(
            "- Same model under the spec's min–max scaling: macro F1 "
            f"{100 * s['macro_f1']['mean']:.1f} %, AUC {s['auc']['mean']:.3f}."
        )
    if spectrum and multimodal and f1("batmm") is not None:
        best_s = max(spectrum, key=f1)
        best_single = max([*spectrum, "image_resnet_se"] if f1("image_resnet_se") is not None else spectrum, key=f1)
        lines.append(
            f"- Best spectrum-only: {TABLE8_NAMES[best_s][1]} {100 * f1(best_s):.2f} %; BATMM "
            f"{100 * f1('batmm'):.2f} %: BATMM {'at or above' if f1('batmm') >= f1(best_single) else 'below'} "
            f"the best single modality ({100 * (f1('batmm') - f1(best_single)):+.2f} points)."
        )
        order = sorted([*spectrum, *multimodal], key=f1, reverse=True)
        lines.append("- Order by macro F1: " + " > ".join(TABLE8_NAMES[m][1] for m in order) + ".")
    if f1("classical") is not None:
        lines.append(
            f"- Classical cuts: {100 * f1('classical'):.2f} %"
            + (
                " (on Xue-cut labels the cuts and the labels share their definition, "
                "so this row is not a fair comparison; read it on the physical labels)."
                if lab == "xue"
                else "."
            )
        )
    return lines


def table_page(out: Path, lab: str, info: dict) -> str | None:
    results = _table(out, lab)
    if results is None:
        return None
    seeds = results["seeds"]
    results["dataset"] = Path(str(results.get("dataset", ""))).name  # a name, not this machine's path
    lines = [
        f"# Table 8 on the simulated sky, {LABEL_TEXT[lab].split(' (')[0]}, "
        f"{results.get('size')} size, seeds {', '.join(map(str, seeds))}",
        "",
        f"Data: `bhb simulate --n {info.get('n')} --seed 0 --labels {lab}` (simulator 2.0: extinction, "
        "calibration error, resolution(λ), masks, sky residuals, Paschen lines, S/N(g_fib), PSF ratio, "
        f"saturation; truth in truth.ecsv), {LABEL_TEXT[lab]}. Split 70/20/10 stratified per seed; "
        f"mean ± σ over seeds on each seed's test split. Networks: {info.get('size')}, AdamW lr 1e-3, "
        f"batch {info.get('table_batch')}, up to {info.get('table_epochs')} epochs per stage, stopped "
        f"after {info.get('table_patience')} epochs without a new best validation macro-F1 or AUC (the "
        f"kept epoch: best F1), on {info.get('device')}; image cutouts scaled by the r-band aperture "
        "flux then asinh (`ratio_asinh`). Produced by `scripts/gpu_sky.py` in one timed run"
        + (f" (`{' '.join(f'{k}={v}' for k, v in sorted(info['env'].items()))}`)" if info.get("env") else "")
        + f"; seeds are those every model finished (planned {info.get('seeds_planned')})."
        + (
            " **No seed finished every model: each row is over its own "
            "finished seeds (n), and the classical row is missing.**"
            if results.get("partial")
            else ""
        ),
        "",
        "## Macro (the paper's ALL rows)",
        "",
        "```",
        format_table8(results, "macro"),
        "```",
        "",
    ]
    extra = _extra_rows(out, lab)
    if extra:
        lines += [
            "Further rows (macro, %):", "", "| Input | Model | Precision | Recall | F1 | AUC | n |",
            "|---|---|---|---|---|---|---|", *extra, "",
        ]
    lines += [
        "## BHB class", "", "```", format_table8(results, "BHB"), "```", "", "## Reading it", "",
        *_reading(results, out, lab), "",
    ]
    report = _load(out / f"sim-report-{lab}.json")
    if report:
        lines += [
            "## The sky these numbers come from", "", "| figure | simulated | real | source |", "|---|---|---|---|",
        ]
        for key, entry in report.get("realism", {}).items():
            lines.append(
                f"| {key} | {_brief(entry.get('simulated'))} | "
                f"{_brief(entry.get('real'))} | {entry.get('source', '')} |"
            )
        if "ks" in report:
            lines += [
                "",
                "KS vs Xue 2011 (cut-passing physical BHBs): "
                + ", ".join(f"{k} {v:.3f}" for k, v in report["ks"].items())
                + f"; classical purity {report['classical_purity']:.3f}, "
                  f"completeness {report['classical_completeness']:.3f}; labels agree with the physical "
                f"class for {100 * report.get('label_agreement_physical', float('nan')):.1f} % of stars.",
            ]
        fw = report.get("fm_window")
        if fw:
            lines += [
                "",
                f"Balmer fit window (Hδ fm, D0.2 of {fw['n']} cut-passing "
                f"BHBs; default ±{fw['default_half_window']:g} Å):",
                "",
                "| half-window | fm median [p5, p95] | shift | KS fm | "
                "D0.2 median [p5, p95] | shift | KS D0.2 | failures |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for w, e in fw["windows"].items():
                fm, d = e["fm"], e["d02"]
                lines.append(
                    f"| ±{w} Å | {fm['median']:.3f} [{fm['p5']:.3f}, {fm['p95']:.3f}] | "
                    f"{fm['median_shift']:+.3f} | {fm.get('ks_vs_xue2011', float('nan')):.3f} | "
                    f"{d['median']:.2f} [{d['p5']:.2f}, {d['p95']:.2f}] | {d['median_shift']:+.2f} "
                    f"| {d.get('ks_vs_xue2011', float('nan')):.3f} | {e['fit_failures']} |"
                )
        lines.append("")
    return "\n".join(lines)


def model_card(out: Path, info: dict) -> str:
    config = json.loads((out / "shipped" / "config.json").read_text())
    test = config["metrics"]["test"]
    check = _load(out / "check-shipped.json") or {}
    history = _load(out / "shipped" / "history.json") or []
    ds = config.get("dataset", {})
    t = config["training"]
    lines = [
        "# batmm-lite-sim: BATMM (lite) trained on simulated stars",
        "",
        "**Trained on simulated data. NOT for science.** The spectra and cutouts it learned from come from "
        "bhb_viewer's own simulator (`bhb simulate`), not from SDSS. Use it to try the viewer, its explanations and "
        "the workflow, never to select BHB stars for a study. Train on a real data set (`bhb dataset`) for that.",
        "",
        "| item | value |",
        "|---|---|",
        "| model | `batmm`, size `lite` |",
        f"| data | `{ds.get('name')}` ({ds.get('count')} stars, {ds.get('n_bhb')} BHB), manifest sha256 "
        f"`{ds.get('manifest_sha256', '')[:16]}…`, provenance {json.dumps(ds.get('provenance', {}))} |",
        "| labels | physical (horizontal-branch gravity), so the classical cuts can be compared with it |",
        "| recipe | stages spectrum → image → fusion (frozen encoders; "
        "the stage-1 and stage-2 heads stay in the checkpoint and give `p_bhb_spectrum`, "
        f"`p_bhb_image`); AdamW lr {t['lr']}, batch {t['batch_size']}, up to {t['epochs']} epochs per "
        f"stage, early stopping: patience {t['patience']} epochs without a new best validation macro-F1 "
        f"or AUC, the kept epoch the best F1; {len(history)} epochs run on {info.get('device')} |",
        "| preprocessing | spectra: masked-pixel fill + min–max; cutouts: "
        f"`{config['preprocess']['image']['scale']}` (÷ r-band aperture flux, asinh) + per-band standardisation |",
        "",
        "## Reproduce",
        "",
        "```",
        f"bhb simulate --n {ds.get('count')} --seed "
        f"{ds.get('provenance', {}).get('seed', 0)} --labels physical --out sim-physical",
        f"bhb train --dataset sim-physical --model batmm --size lite --seed {t['seed']} "
        f"--epochs {t['epochs']} --patience {t['patience']} --lr {t['lr']} --batch-size "
        f"{t['batch_size']} --device {info.get('device', 'auto')} --out models/batmm-lite-sim",
        "```",
        "",
        f"## Metrics (test split, seed {t['seed']}, P ≥ 0.5), AUC {test['auc']:.4f}",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for cls in ("BHB", "non-BHB", "macro"):
        r = test[cls]
        lines.append(
            f"| {cls} | {100 * r['precision']:.2f} | {100 * r['recall']:.2f} "
            f"| {100 * r['f1']:.2f} | {r.get('support', '')} |"
        )
    if check:
        lines += ["", f"## Every modality on a fresh sky (seed 99, {check['n']} stars, physical labels)", "",
                  "| score | AUC | macro F1 | BHB F1 |", "|---|---|---|---|"]
        for col, name in (
            ("p_bhb", "fusion (p_bhb)"), ("p_bhb_spectrum", "spectrum head"), ("p_bhb_image", "image head"),
            ("classical_bhb", "classical cuts"),
        ):
            if col in check:
                c = check[col]
                lines.append(f"| {name} | {c['auc']:.4f} | {100 * c['macro_f1']:.2f} | {100 * c['bhb_f1']:.2f} |")
        lines += ["", "The classical cuts give a yes/no, so their AUC is the balanced accuracy (TPR + TNR) / 2."]
    lines += [
        "", "Training history: `history.json`; validation scores for the threshold chooser: `validation.json`.", "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the $OUT folder of scripts/gpu_sky.py")
    parser.add_argument(
        "--install-model", action="store_true", help="copy the shipped checkpoint into models/batmm-lite-sim"
    )
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "results")
    args = parser.parse_args()
    if (args.out / "sky_results.tar.gz").is_file():
        import tarfile
        import tempfile

        unpacked = Path(tempfile.mkdtemp(prefix="sky_results-"))
        with tarfile.open(args.out / "sky_results.tar.gz") as tar:
            tar.extractall(unpacked, filter="data")
        args.out = unpacked / "sky_results"
    info = _load(args.out / "run-info.json") or {}
    args.docs.mkdir(parents=True, exist_ok=True)
    for lab in ("xue", "physical"):
        page = table_page(args.out, lab, info)
        if page:
            (args.docs / f"table8-sim-{lab}.md").write_text(page)
            print(f"wrote {args.docs / f'table8-sim-{lab}.md'}")
    if args.install_model and (args.out / "shipped" / "config.json").is_file():
        dest = REPO / "models" / "batmm-lite-sim"
        for name in ("config.json", "weights.safetensors", "validation.json", "test_metrics.json", "history.json"):
            if (args.out / "shipped" / name).is_file():
                shutil.copy2(args.out / "shipped" / name, dest / name)
        (dest / "README.md").write_text(model_card(args.out, info))
        print(f"installed the shipped model and its card in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
