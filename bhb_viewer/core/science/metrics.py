"""Binary classification metrics in numpy (label 1 = BHB), shared by evaluation, scoring and the GUI's
threshold chooser so every number a person sees comes from one implementation.
"""

from __future__ import annotations

import numpy as np

from bhb_viewer.core.dataset import CLASS_NAMES


def _as_labels(y) -> np.ndarray:
    return np.asarray(y, dtype=np.int64).ravel()


def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """2×2 counts, rows = true class (0 non-BHB, 1 BHB), columns = predicted class."""
    t, p = _as_labels(y_true), _as_labels(y_pred)
    return np.bincount(2 * t + p, minlength=4).reshape(2, 2)


def _safe_div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def classification_report(y_true, y_pred) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class, and their macro average (the paper's "ALL" row)."""
    return report_from_confusion(confusion_matrix(y_true, y_pred))


def report_from_confusion(cm: np.ndarray) -> dict[str, dict[str, float]]:
    """:func:`classification_report` from 2×2 counts, e.g. summed over the batches (or ranks) of a stream."""
    cm = np.asarray(cm)
    report: dict[str, dict[str, float]] = {}
    for k in (1, 0):
        tp = cm[k, k]
        precision = _safe_div(tp, cm[:, k].sum())
        recall = _safe_div(tp, cm[k, :].sum())
        f1 = _safe_div(2 * precision * recall, precision + recall)
        report[CLASS_NAMES[k]] = {"precision": precision, "recall": recall, "f1": f1, "support": int(cm[k, :].sum())}
    report["macro"] = {
        key: float(np.mean([report[c][key] for c in CLASS_NAMES])) for key in ("precision", "recall", "f1")
    }
    report["macro"]["support"] = int(cm.sum())
    report["accuracy"] = {"value": _safe_div(np.trace(cm), cm.sum())}
    return report


def _sorted_cumulative(y_true, score):
    """True/false positive counts when thresholding at each distinct score, highest first."""
    t = _as_labels(y_true)
    s = np.asarray(score, dtype=np.float64).ravel()
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(t)[last_of_run]
    fp = (last_of_run + 1) - tp
    return tp, fp, s[last_of_run], int(t.sum()), int(len(t) - t.sum())


def roc_curve(y_true, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds), starting at (0, 0) with threshold +inf."""
    tp, fp, thr, n_pos, n_neg = _sorted_cumulative(y_true, score)
    tpr = np.r_[0.0, tp / n_pos] if n_pos else np.zeros(len(tp) + 1)
    fpr = np.r_[0.0, fp / n_neg] if n_neg else np.zeros(len(fp) + 1)
    return fpr, tpr, np.r_[np.inf, thr]


def auc(x, y) -> float:
    """Area under a curve by the trapezoid rule (x need not be sorted ascending)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    order = np.argsort(x, kind="mergesort")
    return float(np.trapezoid(y[order], x[order]))


def precision_recall_curve(y_true, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) for 'score ≥ threshold', thresholds descending."""
    tp, fp, thr, n_pos, _ = _sorted_cumulative(y_true, score)
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / n_pos if n_pos else np.zeros(len(tp))
    return precision, recall, thr


def purity_completeness_at(y_true, score, cut: float) -> tuple[float, float, int]:
    """Purity (precision) and completeness (recall) of BHBs selected by score ≥ cut, and how many are selected."""
    t = _as_labels(y_true)
    selected = np.asarray(score, dtype=np.float64).ravel() >= cut
    n_sel = int(selected.sum())
    tp = int(np.sum(selected & (t == 1)))
    return _safe_div(tp, n_sel), _safe_div(tp, int(np.sum(t == 1))), n_sel
