"""The Balmer-line diagnostics a model with ``Arch.diagnostics`` reads beside its colours (issue 19).

The diagnostics branch is a small perceptron on the classical Balmer parameters of the spectrum
(D0.2 and fm of Hδ, b and c of Hγ: :func:`bhb_viewer.core.science.balmer.measure_arrays`, the
same fit the classical cuts use) and the catalogue colours (:mod:`bhb_viewer.ml.photometry`).
Why a branch and not one more token: on the simulated sky these eight numbers and the network's
spectrum head make different errors (docs/results/ceiling-sky31.md: each alone ≈ 88–90 macro F1,
their average 91–92.5 on two skies never trained on), and the fusion's colour token had not
picked up that information. The model's P(BHB) is the mean of the fusion's and the branch's.

Features (N, 8) float32: each diagnostic standardised with the training split's mean and
standard deviation and clipped to ± :data:`CLIP` (a failed fit's wild value must not dominate),
0 where the fit gave none, then a 0/1 "present" flag per diagnostic. Numpy only, like the rest
of the preprocessing: data-loader workers run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bhb_viewer.core.dataset import read_rows
from bhb_viewer.core.science.balmer import measure_arrays
from bhb_viewer.ml.photometry import present_mean_std

BALMER_FEATURES = ("d02", "fm", "b_hg", "c_hg")
N_BALMER = len(BALMER_FEATURES)
N_DIAGNOSTIC_FEATURES = 2 * N_BALMER  # standardised values, present flags
CLIP = 5.0  # standard deviations


def balmer_values(flux: np.ndarray, ivar: np.ndarray | None) -> np.ndarray:
    """(N, 4) float64 D0.2, fm, b(Hγ), c(Hγ) of spectra on the grid (raw flux); NaN where the fit fails."""
    flux = np.atleast_2d(np.asarray(flux, dtype=np.float64))
    ivar = np.ones_like(flux) if ivar is None else np.atleast_2d(np.asarray(ivar, dtype=np.float64))
    return balmer_columns(measure_arrays(flux, ivar))


def balmer_columns(cols: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 4) float64 diagnostics out of :func:`~bhb_viewer.core.science.balmer.measure_arrays`' columns,
    for a caller that has fitted the lines already (``bhb score``'s classical columns)."""
    return np.stack([np.asarray(cols[name], dtype=np.float64) for name in BALMER_FEATURES], axis=1)


def dataset_balmer(dataset: Any, rows: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(len(rows), 4) Balmer diagnostics of a data set's rows, read a chunk at a time (memory-mapped sets)."""
    rows = np.asarray(rows, dtype=np.int64)
    chunks = [rows[i : i + chunk] for i in range(0, len(rows), chunk)]
    parts = [balmer_values(read_rows(dataset.spectra, part), read_rows(dataset.ivar, part)) for part in chunks]
    return np.concatenate(parts) if parts else np.zeros((0, N_BALMER))


@dataclass
class DiagnosticScaler:
    """Balmer diagnostics to features with the training split's statistics (carried in the checkpoint)."""

    mean: np.ndarray  # (4,)
    std: np.ndarray  # (4,)

    @classmethod
    def fit(cls, values: np.ndarray) -> DiagnosticScaler:
        """Mean and standard deviation of each diagnostic over the rows that have it (0 and 1 when none do)."""
        values = np.asarray(values, dtype=np.float64)
        return cls(*present_mean_std(values, np.isfinite(values)))

    def features(self, values: np.ndarray) -> np.ndarray:
        """(N, 4) diagnostics -> (N, 8) float32 features (see the module doc)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != N_BALMER:
            raise ValueError(f"Balmer diagnostics must be N×{N_BALMER} ({', '.join(BALMER_FEATURES)}), "
                             f"got {values.shape}")
        present = np.isfinite(values)
        scaled = np.clip((np.where(present, values, 0) - self.mean) / self.std, -CLIP, CLIP)
        return np.concatenate([np.where(present, scaled, 0), present], axis=1).astype(np.float32)

    def to_config(self) -> dict[str, Any]:
        return {"features": list(BALMER_FEATURES), "mean": self.mean.tolist(), "std": self.std.tolist(),
                "clip": CLIP}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DiagnosticScaler:
        """Rebuild from ``to_config()``'s dict; refuses (ValueError) other diagnostics or bad statistics."""
        if tuple(config.get("features", ())) != BALMER_FEATURES:
            raise ValueError(f"diagnostics {config.get('features')} are not this program's {list(BALMER_FEATURES)}")
        mean, std = np.asarray(config["mean"], np.float32), np.asarray(config["std"], np.float32)
        if mean.shape != (N_BALMER,) or std.shape != (N_BALMER,) or not (std > 0).all():
            raise ValueError(f"diagnostic statistics must be {N_BALMER} means and positive stds, got {mean}, {std}")
        return cls(mean, std)
