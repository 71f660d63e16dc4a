"""The one preprocessing path of BATMM_SPEC, carried by every checkpoint's config.

Training and inference both build a ``Preprocessor`` from the checkpoint's ``"preprocess"`` entry,
so the viewer can never scale a star differently from the trainer. Numpy only (the baselines and
the data loaders use it as well); outputs are float32 arrays ready for ``torch.from_numpy``.

Two image scalings exist, named in the config (``image.scale``):

* ``"minmax_cube"`` — the spec's Eq. 14: each cube min–max scaled as a whole. Its minimum is
  usually a noise pixel of the noisiest band, so the star's colours survive only non-linearly
  (issue 9's audit: aperture colours AUC 0.861 raw, 0.625 after it). Checkpoints of
  preprocessing version 1 (e.g. the first ``models/batmm-lite-sim``) use it and keep loading.
* ``"ratio_asinh"`` (default for new training) — every band divided by the *same* number, the
  target's r-band aperture flux, then a softened logarithm ``asinh(x / softening)``: band ratios
  (colours) are kept exactly, brightness is divided out, and the star's core and the faint
  background both stay in range.

Either is followed by per-band standardisation with the training split's statistics (Eq. 15).

A model with photometry (``Arch.photometry``) also reads the candidate's catalogue colours; their
training-split statistics travel under ``"photometry"`` (:class:`~bhb_viewer.ml.photometry.ColourScaler`),
absent from every other checkpoint's config. A model with ``Arch.diagnostics`` also reads the
spectrum's Balmer diagnostics; their statistics travel under ``"diagnostics"``
(:class:`~bhb_viewer.ml.diagnostics.DiagnosticScaler`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE, NPIX, grid_dict
from bhb_viewer.core.readers.spectra import fill_masked, minmax_scale
from bhb_viewer.ml.diagnostics import DiagnosticScaler
from bhb_viewer.ml.photometry import ColourScaler, dataset_magnitudes

PREPROCESS_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 = minmax_cube with no "scale" parameters of its own
IMAGE_SCALES = ("ratio_asinh", "minmax_cube")
DEFAULT_IMAGE_SCALE = "ratio_asinh"
APERTURE_PX = 4.0  # radius of the r-band aperture (1.6″, about one seeing FWHM)
SOFTENING = 0.01  # asinh softening, in units of the aperture flux per pixel
FLUX_FLOOR = 1.0  # nanomaggies (r ≈ 22.5): a target with less r flux is divided by this instead


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


def aperture_flux(cubes: np.ndarray, band: int = BANDS.index("r"), radius: float = APERTURE_PX) -> np.ndarray:
    """Sum of one band's finite pixels within ``radius`` of each cube's centre (N,)."""
    size = cubes.shape[-1]
    yy, xx = np.mgrid[:size, :size] + 0.5
    inside = (xx - size / 2) ** 2 + (yy - size / 2) ** 2 <= radius**2
    plane = np.asarray(cubes[:, band], dtype=np.float64)
    return np.where(np.isfinite(plane) & inside, plane, 0.0).sum(axis=(1, 2))


def ratio_asinh(cubes: np.ndarray, radius: float = APERTURE_PX, softening: float = SOFTENING) -> np.ndarray:
    """Every band divided by the target's r-band aperture flux, then ``asinh(x / softening)``; non-finite → 0."""
    x = np.asarray(cubes, dtype=np.float32)
    scale = np.maximum(aperture_flux(x, radius=radius), FLUX_FLOOR).astype(np.float32)[:, None, None, None]
    finite = np.isfinite(x)
    return np.where(finite, np.arcsinh(np.where(finite, x, 0) / (scale * softening)), 0).astype(np.float32)


def _scaler(name: str, aperture_px: float = APERTURE_PX, softening: float = SOFTENING):
    if name == "minmax_cube":
        return scale_cubes
    if name == "ratio_asinh":
        return functools.partial(ratio_asinh, radius=aperture_px, softening=softening)  # picklable for loader workers
    raise ValueError(f"unknown image scaling {name!r}; choose one of {', '.join(IMAGE_SCALES)}")


def fit_band_stats(cutouts: np.ndarray, indices: Sequence[int] | np.ndarray, chunk: int = 512,
                   scale=scale_cubes) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation of the scaled training cubes (Eq. 15's μ, σ).

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
        scaled = scale(cutouts[rows[start : start + chunk]]).astype(np.float64)
        total += scaled.sum(axis=(0, 2, 3))
        total_sq += (scaled**2).sum(axis=(0, 2, 3))
        count += scaled.shape[0] * scaled.shape[2] * scaled.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


@dataclass
class Preprocessor:
    """Spectra: masked pixels filled, then per-spectrum min–max (Eq. 16). Cutouts: ``image_scale``
    (see the module doc), then per-band standardisation with the training split's statistics (Eq. 15).
    Colours: ``photometry`` (None for a model without photometry)."""

    band_mean: np.ndarray
    band_std: np.ndarray
    cutout_size: int = CUTOUT_SIZE
    image_scale: str = DEFAULT_IMAGE_SCALE
    aperture_px: float = APERTURE_PX
    softening: float = SOFTENING
    photometry: ColourScaler | None = None
    diagnostics: DiagnosticScaler | None = None

    def __post_init__(self) -> None:
        self._scale = _scaler(self.image_scale, self.aperture_px, self.softening)

    @classmethod
    def fit(cls, dataset: Any, train_rows: np.ndarray, image_scale: str = DEFAULT_IMAGE_SCALE,
            photometry: bool = False, diagnostics: np.ndarray | None = None) -> Preprocessor:
        """Fit the band statistics (with ``photometry`` the colour statistics, with ``diagnostics``, the
        training rows' (N, 4) Balmer diagnostics, theirs) on a data set's training rows (a ``core.dataset.Dataset``)."""
        colours = ColourScaler.fit(dataset_magnitudes(dataset)[train_rows]) if photometry else None  # fails fast
        mean, std = fit_band_stats(dataset.cutouts, train_rows, scale=_scaler(image_scale))
        balmer = None if diagnostics is None else DiagnosticScaler.fit(diagnostics)
        return cls(mean, std, int(dataset.cutouts.shape[-1]), image_scale, photometry=colours, diagnostics=balmer)

    def to_config(self) -> dict:
        image: dict = {
            "scale": self.image_scale,
            "band_mean": self.band_mean.tolist(),
            "band_std": self.band_std.tolist(),
        }
        if self.image_scale == "ratio_asinh":
            image.update(
                reference_band="r", aperture_px=self.aperture_px, softening=self.softening, flux_floor=FLUX_FLOOR
            )
        config = {
            "version": PREPROCESS_VERSION,
            "grid": grid_dict(),
            "bands": list(BANDS),
            "cutout_size": self.cutout_size,
            "spectrum": {"fill_masked": "linear", "scale": "minmax"},
            "image": image,
            "extinction_corrected": False,
        }
        if self.photometry is not None:
            config["photometry"] = self.photometry.to_config()
        if self.diagnostics is not None:
            config["diagnostics"] = self.diagnostics.to_config()
        return config

    @classmethod
    def from_config(cls, config: dict) -> Preprocessor:
        """Rebuild from ``to_config()``'s dict (any readable version); refuses (ValueError) one made
        for another grid or layout."""
        if config.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"preprocessing version {config.get('version')!r} is not one of {READABLE_VERSIONS}")
        if config.get("grid") != grid_dict():
            raise ValueError(f"spectral grid {config.get('grid')} differs from this program's {grid_dict()}")
        if tuple(config.get("bands", ())) != BANDS:
            raise ValueError(f"bands {config.get('bands')} differ from {list(BANDS)}")
        image = config["image"]
        mean, std = np.asarray(image["band_mean"], np.float32), np.asarray(image["band_std"], np.float32)
        if mean.shape != (len(BANDS),) or std.shape != (len(BANDS),) or not (std > 0).all():
            raise ValueError(f"band statistics must be {len(BANDS)} means and positive stds, got {mean} and {std}")
        scale = image.get("scale", "minmax_cube") if config["version"] >= 2 else "minmax_cube"
        if scale not in IMAGE_SCALES:
            raise ValueError(f"unknown image scaling {scale!r}")
        colours = ColourScaler.from_config(config["photometry"]) if "photometry" in config else None
        balmer = DiagnosticScaler.from_config(config["diagnostics"]) if "diagnostics" in config else None
        return cls(mean, std, int(config["cutout_size"]), scale, float(image.get("aperture_px", APERTURE_PX)),
                   float(image.get("softening", SOFTENING)), colours, balmer)

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
        """(N, 5, S, S) cutouts -> (N, 5, S, S) float32, scaled and standardised per band."""
        cubes = np.asarray(cubes, dtype=np.float32)
        if cubes.ndim == 3:
            cubes = cubes[None]
        expected = (len(BANDS), self.cutout_size, self.cutout_size)
        if cubes.shape[1:] != expected:
            raise ValueError(f"cutouts must be N×{'×'.join(map(str, expected))} for this model, got {cubes.shape}")
        return (self._scale(cubes) - self.band_mean[:, None, None]) / self.band_std[:, None, None]

    def colours(self, mags: np.ndarray) -> np.ndarray:
        """(N, 15) magnitudes, errors and extinctions -> (N, 12)
        float32 colour features; ValueError without photometry."""
        if self.photometry is None:
            raise ValueError("this preprocessing has no colour statistics: the model reads no photometry")
        return self.photometry.features(mags)

    def balmer(self, values: np.ndarray) -> np.ndarray:
        """(N, 4) Balmer diagnostics (ml.diagnostics.balmer_values) -> (N, 8) float32 features;
        ValueError without diagnostics statistics."""
        if self.diagnostics is None:
            raise ValueError("this preprocessing has no diagnostics statistics: the model reads no Balmer diagnostics")
        return self.diagnostics.features(values)
