"""Model comparison in the layout of the paper's Table 8: train each model over seeds on the same
seeded splits, test once, report precision, recall and F1 as mean ± σ, with ROC and P–R curves.

Networks and the SVM/XGBoost baselines go through the same ``fit``; ``classical`` is the Xue et
al. (2011) Balmer-line cuts (``core.science.balmer``) applied to the same test split, so the learned
models can be read against the method they are meant to improve on. Finished runs are reused, so
an interrupted comparison picks up where it stopped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.science.metrics import confusion_matrix, precision_recall_curve, roc_curve
from bhb_viewer.ml.data import stratified_split
from bhb_viewer.ml.training import TrainConfig, fit, scores_report

CLASSICAL = "classical"
# (input, label) as Table 8 prints them
TABLE8_NAMES: dict[str, tuple[str, str]] = {
    CLASSICAL: ("Classical", "Balmer cuts (Xue+2011)"),
    "image_resnet": ("Image-only", "ResNet"),
    "image_resnet_se": ("Image-only", "ResNet + SE"),
    "svm": ("Spectrum-only", "SVM"),
    "xgboost": ("Spectrum-only", "XGBoost"),
    "spectrum_vgg1d": ("Spectrum-only", "VGG1D"),
    "spectrum_vgg1d_sa": ("Spectrum-only", "VGG1D + SA"),
    "early_add": ("Multimodal", "Early Add"),
    "early_concat": ("Multimodal", "Early Concat"),
    "vgg1d_fusion": ("Multimodal", "VGG1D"),
    "batmm": ("Multimodal", "BATMM"),
}
TABLE8_MODELS = (
    "image_resnet_se", "svm", "xgboost", "spectrum_vgg1d_sa", "early_add", "early_concat", "vgg1d_fusion", "batmm",
)
METRICS = ("precision", "recall", "f1")


def classical_scores(dataset, rows: np.ndarray) -> np.ndarray:
    """1.0 where a star passes the classical Balmer cuts, else 0.0 (a failed line fit never passes)."""
    from bhb_viewer.core.science.balmer import measure_arrays

    rows = np.asarray(rows, dtype=np.int64)
    cols = measure_arrays(np.asarray(dataset.spectra[rows]), np.asarray(dataset.ivar[rows]))
    return np.asarray(cols["classical_bhb"], dtype=np.float64)


def summarize(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of the macro ("ALL") and BHB P/R/F1, and the AUC."""
    out: dict[str, Any] = {"n_seeds": len(reports)}
    for group in ("macro", "BHB", "non-BHB"):
        for m in METRICS:
            values = np.array([r[group][m] for r in reports], dtype=float)
            out[f"{group}_{m}"] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            }
    aucs = np.array([r["auc"] for r in reports], dtype=float)
    out["auc"] = {"mean": float(np.nanmean(aucs)), "std": float(np.nanstd(aucs, ddof=1)) if len(aucs) > 1 else 0.0}
    return out


def _pm(stat: dict[str, float]) -> str:
    return f"{100 * stat['mean']:6.2f} ± {100 * stat['std']:4.2f}"


def format_table8(results: dict[str, Any], group: str = "macro") -> str:
    """The Table 8 layout: input, model, P, R, F1 in % as mean ± σ over seeds (``group`` "macro" = the
    paper's ALL row; "BHB" for the positive class alone), plus the AUC and n, the number of seeds."""
    lines = [
        f"{'Input':<14} {'Model':<24} {'Precision (%)':>15} {'Recall (%)':>15} {'F1 (%)':>15} {'AUC':>13} {'n':>2}"
    ]
    previous = None
    for name, entry in results["models"].items():
        modality, label = TABLE8_NAMES.get(name, ("", name))
        s = entry["summary"]
        auc = s["auc"]
        lines.append(
            f"{modality if modality != previous else '':<14} {label:<24} "
            + " ".join(f"{_pm(s[f'{group}_{m}']):>15}" for m in METRICS)
            + f" {auc['mean']:7.4f}±{auc['std']:.4f} {s['n_seeds']:>2}"
        )
        previous = modality
    lines.append(f"{group} P/R/F1; seeds {results['seeds']}; size {results['size']}; data {results['dataset']}")
    return "\n".join(lines)


def write_table(results: dict[str, Any], out: Path) -> list[Path]:
    """table8.json (everything, per seed) and table8.csv (one row per model, means and σ)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "table8.json").write_text(json.dumps(results, indent=1))
    with open(out / "table8.csv", "w", newline="") as f:
        writer = csv.writer(f)
        keys = [f"{g}_{m}" for g in ("macro", "BHB", "non-BHB") for m in METRICS] + ["auc"]
        writer.writerow(["model", "input", "label", "n_seeds"] + [f"{k}_{s}" for k in keys for s in ("mean", "std")])
        for name, entry in results["models"].items():
            modality, label = TABLE8_NAMES.get(name, ("", name))
            s = entry["summary"]
            writer.writerow(
                [name, modality, label, s["n_seeds"]] + [f"{s[k][st]:.6f}" for k in keys for st in ("mean", "std")]
            )
    return [out / "table8.json", out / "table8.csv"]


def save_curves(scores: dict[str, tuple[np.ndarray, np.ndarray]], out: Path) -> list[Path]:
    """roc.png and pr.png, one curve per model over its pooled test predictions.

    Plots need matplotlib (the ``baselines`` extra); without it the tables are still written and
    this returns no paths.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    paths = []
    for kind in ("roc", "pr"):
        fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
        for name, (labels, p) in scores.items():
            label = TABLE8_NAMES.get(name, ("", name))[1]
            if name == CLASSICAL:  # a yes/no cut is one operating point, not a curve
                (tn, fp), (fn, tp) = confusion_matrix(labels, p >= 0.5)
                tpr = tp / max(1, tp + fn)
                point = (fp / max(1, fp + tn), tpr) if kind == "roc" else (tpr, tp / max(1, tp + fp))
                ax.plot(*point, "k*", ms=10, label=label)
                continue
            if kind == "roc":
                x, y, _ = roc_curve(labels, p)
            else:
                y, x, _ = precision_recall_curve(labels, p)
            ax.plot(x, y, lw=1.2, label=label)
        ax.set_xlabel("false-positive rate" if kind == "roc" else "recall (completeness)")
        ax.set_ylabel("true-positive rate" if kind == "roc" else "precision (purity)")
        ax.set_title("ROC, test split, seeds pooled" if kind == "roc" else "Precision–recall, test split, seeds pooled")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left")
        path = out / f"{kind}.png"
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def evaluate_models(
    models: Sequence[str],
    dataset: str | Path,
    seeds: int | Sequence[int] = 5,
    size: str = "lite",
    out: str | Path = "evaluation",
    train_options: dict[str, Any] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Train and test every model on every seed's split; write table8.{json,csv} and roc/pr PNGs.

    ``seeds`` is a count (seeds 0…n-1) or explicit seeds; ``train_options`` are TrainConfig fields
    applied to every network (epochs, batch_size, lr, …). Returns the results dict also written
    as table8.json.
    """
    out = Path(out)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    data = open_dataset(dataset)
    results: dict[str, Any] = {"dataset": str(dataset), "dataset_hash": data.manifest_hash, "size": size,
                               "seeds": seed_list, "train_options": train_options or {}, "models": {}}
    pooled: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    total = len(models) * len(seed_list)
    for m_index, name in enumerate(models):
        reports, labels_all, scores_all = [], [], []
        for s_index, seed in enumerate(seed_list):
            if cancel is not None:
                cancel.check()
            progress(ProgressEvent("evaluate", m_index * len(seed_list) + s_index, total, f"{name} seed {seed}"))
            labels, p = _test_predictions(name, data, dataset, seed, size, out, train_options or {}, cancel)
            report = scores_report(labels, p)
            report["confusion_matrix"] = confusion_matrix(labels, p >= 0.5).tolist()
            report["seed"] = seed
            reports.append(report)
            labels_all.append(labels)
            scores_all.append(p)
        results["models"][name] = {"summary": summarize(reports), "per_seed": reports}
        pooled[name] = (np.concatenate(labels_all), np.concatenate(scores_all))
        write_table(results, out)  # after every model, so a long comparison shows partial results
    progress(ProgressEvent("evaluate", total, total, "done"))
    results["plots"] = [str(p) for p in save_curves(pooled, out)]
    write_table(results, out)
    return results


def _test_predictions(
    name, data, dataset, seed, size, out: Path, train_options, cancel
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, P(BHB)) on the test split of ``seed``, training the model there unless already done."""
    fractions = tuple(train_options.get("fractions", (0.7, 0.2, 0.1)))
    if name == CLASSICAL:
        rows = stratified_split(data.labels, seed, fractions)[2]
        return data.labels[rows], classical_scores(data, rows)
    run_dir = out / "runs" / f"{name}-seed{seed}"
    if not (run_dir / "test.json").is_file():
        config = TrainConfig.from_dict({**train_options, "dataset": str(dataset), "model": name, "size": size,
                                        "seed": seed, "out": str(run_dir)})
        fit(config, cancel=cancel)
    test = json.loads((run_dir / "test.json").read_text())
    return np.asarray(test["label"], dtype=np.int64), np.asarray(test["p_bhb"], dtype=np.float64)
