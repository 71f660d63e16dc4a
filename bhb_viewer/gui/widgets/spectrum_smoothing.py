"""Display smoothing of a spectrum and the error of what is drawn, with masked pixels kept as gaps.

Qt-free numpy: the spectrum plot smooths for the eye only, so the rule is simple and stated here
once, for the curve and for its ±1σ band alike.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

SMOOTHING_KINDS = ("boxcar", "gaussian")
FWHM_PER_SIGMA = 2.3548
GAUSS_TRUNCATE = 4.0  # scipy's default: the kernel reaches 4 σ each side


def smooth(flux: np.ndarray, valid: np.ndarray, width: int, kind: str) -> np.ndarray:
    """Mean of the valid pixels under a boxcar (``width`` px) or a Gaussian (FWHM ``width`` px).

    Invalid pixels neither contribute nor get filled: they stay NaN, so gaps remain gaps.
    """
    if width <= 1:
        return np.where(valid, flux, np.nan)
    weight = valid.astype(float)
    signal = np.where(valid, flux, 0.0)
    if kind == "boxcar":
        num = uniform_filter1d(signal, width, mode="nearest")
        den = uniform_filter1d(weight, width, mode="nearest")
    elif kind == "gaussian":
        sigma = width / FWHM_PER_SIGMA
        num = gaussian_filter1d(signal, sigma, mode="nearest")
        den = gaussian_filter1d(weight, sigma, mode="nearest")
    else:
        raise ValueError(f"unknown smoothing {kind!r}; choose one of {SMOOTHING_KINDS}")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(valid & (den > 0), out, np.nan)


def smoothed_sigma(ivar: np.ndarray, valid: np.ndarray, width: int, kind: str) -> np.ndarray:
    """1σ error of :func:`smooth`'s output from the inverse variance (NaN where no valid pixel).

    The smoothed flux is Σ kᵢ fᵢ / Σ kᵢ over valid pixels, so its variance is Σ kᵢ² σᵢ² / (Σ kᵢ)²,
    with the same kernel and edge handling as the smoothing itself.
    """
    with np.errstate(divide="ignore"):
        var = np.where(valid, 1.0 / np.where(valid, ivar, 1.0), 0.0)
    if width <= 1:
        return np.where(valid, np.sqrt(var), np.nan)
    if kind == "boxcar":
        kernel = np.ones(width)
    elif kind == "gaussian":
        sigma = width / FWHM_PER_SIGMA
        half = int(GAUSS_TRUNCATE * sigma + 0.5)
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    else:
        raise ValueError(f"unknown smoothing {kind!r}; choose one of {SMOOTHING_KINDS}")
    pad = len(kernel) // 2
    weight = np.pad(valid.astype(float), (pad, len(kernel) - 1 - pad), mode="edge")
    spread = np.pad(var, (pad, len(kernel) - 1 - pad), mode="edge")
    den = np.convolve(weight, kernel[::-1], mode="valid")
    num = np.convolve(spread, (kernel**2)[::-1], mode="valid")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(num) / den
    return np.where(valid & (den > 0), out, np.nan)
