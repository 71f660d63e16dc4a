"""How far a spectrum can be trusted by a model trained on SDSS: valid window pixels and resolution.

The model sees every one of the grid's 3522 pixels. Where a file leaves most of the window empty
(a stellar-library spectrum that stops at 7500 Å, long runs of bad pixels) the network still
answers, and confidently: a sim-trained spectrum model gave P(BHB) 0.97–0.98 to two A dwarfs whose
spectra were mostly empty between 4000 and 9000 Å. So the fraction of valid window pixels travels
with every spectrum (``GridSpectrum.meta["valid_fraction"]``) and every score, and a score made on
less than :data:`MIN_VALID_FRACTION` is marked unreliable.

Likewise the network learnt SDSS's line widths (R ≈ 2000, ≈ 1500 at 3800 Å to 2500 at 9000 Å);
a spectrum whose resolving power differs by more than :data:`RESOLUTION_RATIO_LIMIT` from that is
flagged, since a Balmer line of another width is another feature to the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Row, Table

MIN_VALID_FRACTION = 0.8
"""A score made on a spectrum with fewer valid window pixels than this fraction is unreliable.

A typical SDSS spectrum has > 0.95 (the real DR7 spSpec-53166-1615-104: 3420/3522 = 0.97), so 0.8
leaves room for the odd bad column or sky line while catching a spectrum a fifth of which is missing.
"""

SDSS_RESOLUTION = 2000.0  # SDSS/BOSS resolving power mid-band (sdss.org spectro basics)
RESOLUTION_RATIO_LIMIT = 1.5  # flag R outside SDSS_RESOLUTION / 1.5 … × 1.5 (≈ 1330–3000)


def valid_fraction(ivar: np.ndarray) -> np.ndarray | float:
    """Fraction of grid pixels with ivar > 0, along the last axis (a float for one spectrum)."""
    frac = np.mean(np.asarray(ivar) > 0, axis=-1)
    return float(frac) if np.ndim(frac) == 0 else frac


def is_unreliable(fraction: float | np.ndarray | None) -> bool | np.ndarray:
    """True where a score rests on fewer than :data:`MIN_VALID_FRACTION` valid pixels (None: unknown → False)."""
    if fraction is None:
        return False
    result = np.asarray(fraction, float) < MIN_VALID_FRACTION
    return bool(result) if result.ndim == 0 else result


def resolution_differs(resolution: float | None, upper_limit: bool = False) -> bool:
    """True when a resolving power is known and outside the band around SDSS's that the model has seen.

    An ``upper_limit`` (from the sampling alone: a finely sampled spectrum may still be smoothed to
    SDSS's resolution, as MILES is) only counts when even the limit is too low.
    """
    if resolution is None or not np.isfinite(resolution) or resolution <= 0:
        return False
    ratio = resolution / SDSS_RESOLUTION
    too_low = ratio < 1 / RESOLUTION_RATIO_LIMIT
    return bool(too_low if upper_limit else too_low or ratio > RESOLUTION_RATIO_LIMIT)


def resolution_from_dispersion(wdisp_px: np.ndarray, dloglam: float) -> float | None:
    """Median resolving power λ/FWHM from a per-pixel Gaussian line-spread σ in pixels of a log10-λ grid.

    SDSS files carry this σ (spec ``wdisp``, DR7 spSpec ``dispersion``); one pixel is
    ln(10)·dloglam in Δλ/λ, so R = 1 / (2.3548 · σ · ln(10) · dloglam).
    """
    w = np.asarray(wdisp_px, float)
    w = w[np.isfinite(w) & (w > 0)]
    if w.size == 0:
        return None
    return float(1.0 / (2.3548 * np.median(w) * np.log(10) * dloglam))


def quality_flags(meta: dict[str, Any]) -> list[str]:
    """Human-readable warnings for one spectrum's meta (``valid_fraction``, ``resolution``), for the CLI and the app."""
    flags = []
    frac = meta.get("valid_fraction")
    if frac is not None and is_unreliable(frac):
        flags.append(
            f"only {frac:.0%} of the window's pixels are valid (< {MIN_VALID_FRACTION:.0%}): a score is unreliable"
        )
    res = meta.get("resolution")
    if resolution_differs(res, bool(meta.get("resolution_is_upper_limit"))):
        how = meta.get("resolution_source", "estimated")
        flags.append(
            f"resolution R ≈ {res:,.0f} ({how}) differs from SDSS's R ≈ {SDSS_RESOLUTION:,.0f} the model was trained on"
        )
    return flags


def add_quality_columns(table: Table) -> None:
    """Empty ``valid_fraction`` and ``resolution`` columns (NaN: unknown) that a builder fills per star.

    They travel into the data set's catalog, so whoever scores a star can carry its valid fraction
    and mark the score unreliable, and the app can show a resolution far from SDSS's.
    """
    table["valid_fraction"] = np.full(len(table), np.nan, np.float32)
    table["resolution"] = np.full(len(table), np.nan, np.float32)


def set_quality(row: Row, meta: dict[str, Any]) -> None:
    """Copy one spectrum's valid fraction and resolving power into its catalog row."""
    for key in ("valid_fraction", "resolution"):
        if meta.get(key) is not None:
            row[key] = meta[key]
