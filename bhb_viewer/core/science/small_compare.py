"""Is a retrained model better than the active one? An answer with intervals, for small test sets.

A test split of a few hundred verdicts or fewer (76 verdicts leave 7 test stars) gives point
figures that swing by tenths between resamples. Both models are scored on the same stars, so the
stars are resampled in pairs: a stratified bootstrap (each class resampled within itself, so every
resample has both) gives each model's AUC and macro F1 with a 95 % interval.

The standard: the new model is better only when its AUC interval lies wholly above the active
model's (the intervals do not overlap) and its macro-F1 interval does not lie wholly below the
active model's. Anything else keeps the active model, and :func:`compare` says why in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bhb_viewer.core.science.metrics import auc, classification_report, roc_curve

N_BOOT = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Figure:
    """A figure of merit on the test stars and its bootstrap interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Comparison:
    """Both models' AUC and macro F1 with intervals, whether the new one is better, and why (not)."""

    n: int
    new_auc: Figure
    active_auc: Figure
    new_f1: Figure
    active_f1: Figure
    better: bool
    reason: str


def _auc(labels: np.ndarray, p: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(labels, p)
    return auc(fpr, tpr)


def _f1(labels: np.ndarray, p: np.ndarray, threshold: float) -> float:
    return float(classification_report(labels, (p >= threshold).astype(np.int64))["macro"]["f1"])


def _figure(values: np.ndarray, point: float) -> Figure:
    tail = (1 - LEVEL) / 2
    return Figure(point, float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail)))


def compare(labels: np.ndarray, p_new: np.ndarray, p_active: np.ndarray, threshold: float = 0.5,
            n_boot: int = N_BOOT, seed: int = 0) -> Comparison:
    """Compare two models' scores of the same stars (``labels`` 1 = BHB) by a paired, stratified bootstrap."""
    labels = np.asarray(labels, dtype=np.int64)
    p_new, p_active = np.asarray(p_new, dtype=float), np.asarray(p_active, dtype=float)
    classes = [np.flatnonzero(labels == c) for c in (0, 1)]
    if min(len(c) for c in classes) == 0:
        nan = Figure(float("nan"), float("nan"), float("nan"))
        return Comparison(len(labels), nan, nan, nan, nan, False,
                          "the test stars hold only one class, so nothing tells the two models apart")
    rng = np.random.default_rng(seed)
    samples = np.empty((4, n_boot))
    for b in range(n_boot):
        rows = np.concatenate([rng.choice(c, len(c)) for c in classes])
        y = labels[rows]
        samples[:, b] = (_auc(y, p_new[rows]), _auc(y, p_active[rows]),
                         _f1(y, p_new[rows], threshold), _f1(y, p_active[rows], threshold))
    points = (
        _auc(labels, p_new), _auc(labels, p_active), _f1(labels, p_new, threshold), _f1(labels, p_active, threshold),
    )
    new_auc, active_auc, new_f1, active_f1 = (_figure(s, v) for s, v in zip(samples, points, strict=True))
    if new_auc.low <= active_auc.high:
        better = False
        reason = (f"on these {len(labels)} test stars the new model's AUC {new_auc} overlaps or lies below the "
                  f"active model's {active_auc}: it is not shown to be better, so the active model stays")
    elif new_f1.high < active_f1.low:
        better = False
        reason = (f"the new model ranks better (AUC {new_auc} against {active_auc}) but its macro F1 {new_f1} lies "
                  f"below the active model's {active_f1}, so the active model stays")
    else:
        better = True
        reason = (f"on these {len(labels)} test stars the new model's AUC {new_auc} lies above the active "
                  f"model's {active_auc}, and its macro F1 is {new_f1} against {active_f1}")
    return Comparison(len(labels), new_auc, active_auc, new_f1, active_f1, better, reason)
