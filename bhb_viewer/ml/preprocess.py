"""The one preprocessing path of BATMM_SPEC, carried by every checkpoint's config.

Training and inference both build a ``Preprocessor`` from the checkpoint's ``"preprocess"`` entry,
so the viewer can never scale a star differently from the trainer. Numpy only (the baselines and
the data loaders use it as well); outputs are float32 arrays ready for ``torch.from_numpy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE, NPIX, grid_dict
from bhb_viewer.core.spectra import fill_masked, minmax_scale

PREPROCESS_VERSION = 1


def scale_cubes(cubes: np.ndarray) -> np.ndarray:
    """Eq. 14: each cube (all bands together) min–max scaled to [0, 1]; non-finite pixels become 0."""
    x = np.asarray(cubes, dtype=np.float32)
    finite = np.isfinite(x)
    flat_axes = tuple(range(1, x.ndim))
    lo = np.where(finite, x, np.inf).min(axis=flat_axes, keepdims=True)
    hi = np.where(finite, x, -np.inf).max(axis=flat_axes, keepdims=True)
    lo = np.where(np.isfinite(lo), lo, 0)
    span = np.where(np.isfinite(hi) & (hi > lo), hi - lo, 1)
    return np.where(finite, (x - lo) / span, 0).astype(np.float32)


def fit_band_stats(cutouts: np.ndarray, indices: Sequence[int] | np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation of the min–max-scaled training cubes (Eq. 15's μ, σ).

    The paper used ImageNet's values; five bands have none, so they come from the training split
    and travel in the checkpoint. Read in chunks so a memory-mapped set never loads whole.
    """
    rows = np.sort(np.asarray(indices, dtype=np.int64))
    if rows.size == 0:
        raise ValueError("no training rows to compute band statistics from")
    total = np.zeros(cutouts.shape[1])
    total_sq = np.zeros(cutouts.shape[1])
    count = 0
    for start in range(0, rows.size, chunk):
        scaled = scale_cubes(cutouts[rows[start : start + chunk]]).astype(np.float64)
        total += scaled.sum(axis=(0, 2, 3))
        total_sq += (scaled**2).sum(axis=(0, 2, 3))
        count += scaled.shape[0] * scaled.shape[2] * scaled.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


@dataclass
class Preprocessor:
    """Spectra: masked pixels filled, then per-spectrum min–max (Eq. 16). Cutouts: per-cube min–max
    (Eq. 14), then per-band standardisation with the training split's statistics (Eq. 15)."""

    band_mean: np.ndarray
    band_std: np.ndarray
    cutout_size: int = CUTOUT_SIZE

    @classmethod
    def fit(cls, dataset: Any, train_rows: np.ndarray) -> "Preprocessor":
        """Fit the band statistics on a data set's training rows (a ``core.dataset.Dataset``)."""
        mean, std = fit_band_stats(dataset.cutouts, train_rows)
        return cls(mean, std, int(dataset.cutouts.shape[-1]))

    def to_config(self) -> dict:
        return {
            "version": PREPROCESS_VERSION,
            "grid": grid_dict(),
            "bands": list(BANDS),
            "cutout_size": self.cutout_size,
            "spectrum": {"fill_masked": "linear", "scale": "minmax"},
            "image": {"scale": "minmax_cube", "band_mean": self.band_mean.tolist(), "band_std": self.band_std.tolist()},
            "extinction_corrected": False,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Preprocessor":
        """Rebuild from ``to_config()``'s dict; refuses (ValueError) one made for another grid or layout."""
        if config.get("version") != PREPROCESS_VERSION:
            raise ValueError(f"preprocessing version {config.get('version')!r} is not {PREPROCESS_VERSION}")
        if config.get("grid") != grid_dict():
            raise ValueError(f"spectral grid {config.get('grid')} differs from this program's {grid_dict()}")
        if tuple(config.get("bands", ())) != BANDS:
            raise ValueError(f"bands {config.get('bands')} differ from {list(BANDS)}")
        image = config["image"]
        mean, std = np.asarray(image["band_mean"], np.float32), np.asarray(image["band_std"], np.float32)
        if mean.shape != (len(BANDS),) or std.shape != (len(BANDS),) or not (std > 0).all():
            raise ValueError(f"band statistics must be {len(BANDS)} means and positive stds, got {mean} and {std}")
        return cls(mean, std, int(config["cutout_size"]))

    def spectra(self, flux: np.ndarray, ivar: np.ndarray | None = None) -> np.ndarray:
        """(N, 3522) flux and inverse variance -> (N, 3522) float32 in [0, 1]; ivar 0 marks masked pixels."""
        flux = np.atleast_2d(np.asarray(flux, dtype=np.float32))
        if flux.shape[1] != NPIX:
            raise ValueError(f"spectra must have {NPIX} pixels on the grid, got {flux.shape[1]}")
        valid = np.isfinite(flux)
        if ivar is not None:
            valid &= np.atleast_2d(np.asarray(ivar)) > 0
        return minmax_scale(fill_masked(flux, valid))

    def images(self, cubes: np.ndarray) -> np.ndarray:
        """(N, 5, S, S) cutouts -> (N, 5, S, S) float32 standardised per band."""
        cubes = np.asarray(cubes, dtype=np.float32)
        if cubes.ndim == 3:
            cubes = cubes[None]
        expected = (len(BANDS), self.cutout_size, self.cutout_size)
        if cubes.shape[1:] != expected:
            raise ValueError(f"cutouts must be N×{'×'.join(map(str, expected))} for this model, got {cubes.shape}")
        return (scale_cubes(cubes) - self.band_mean[:, None, None]) / self.band_std[:, None, None]
