"""Synthetic SDSS ugriz photometry from a spectrum, through the SDSS 2.5 m response curves.

The curves are Doi et al. (2010, AJ 139, 1628) Table 4 through airmass 1.3, as redistributed
by speclite (BSD-3-Clause; ``bhb_viewer/resources/filters/README.md``). Magnitudes are AB, photon-counting:
m = −2.5 log10(∫ f_λ R λ dλ / ∫ (c/λ²)·3631 Jy R λ dλ). SDSS u and z are close to but not exactly
AB (u_AB = u_SDSS − 0.04, z_AB = z_SDSS + 0.02; SDSS DR7 photometric documentation), so what this
module returns as "SDSS" magnitudes, like a survey catalogue's psfMag, carries :data:`AB_TO_SDSS`.

A spectrum seldom covers a whole filter: :func:`synthesize` computes a band only where the
spectrum holds at least :data:`MIN_COVERAGE` of the band's weighted response, and its error then
includes the missing share (a flat spectrum short of 3 % of the response is off by at most ≈ 0.03 mag).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from astropy.table import Table

from bhb_viewer.core.grid import BANDS, wavelength
from bhb_viewer.core.readers.catalog_mags import fill_missing_bands
from bhb_viewer.core.resources import resource_path

C_AA = 2.99792458e18  # Å/s
AB_ZERO_FNU = 3631e-23  # erg/s/cm²/Hz
MIN_COVERAGE = 0.97
MIN_UNMASKED = 0.8  # of the band's response on unmasked pixels: masked runs inside are interpolated over
AB_TO_SDSS = {"u": 0.04, "g": 0.0, "r": 0.0, "i": 0.0, "z": -0.02}  # m_SDSS = m_AB + offset


@cache
def filter_curve(band: str) -> tuple[np.ndarray, np.ndarray]:
    """(wavelength Å, response) of an SDSS band."""
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}; bands are {', '.join(BANDS)}")
    table = Table.read(resource_path(f"filters/sdss2010-{band}.ecsv"), format="ascii.ecsv")
    return np.asarray(table["wavelength"], dtype=float), np.asarray(table["response"], dtype=float)


def _weights(wave: np.ndarray, band: str) -> tuple[np.ndarray, float]:
    """Trapezoid weights R λ dλ on ``wave`` and the band's whole ∫ R λ dλ."""
    fw, fr = filter_curve(band)
    resp = np.interp(wave, fw, fr, left=0.0, right=0.0)
    dl = np.gradient(wave)
    return resp * wave * dl, float(np.trapezoid(fr * fw, fw))


def coverage(wave: np.ndarray, band: str) -> float:
    """Share of the band's ∫ R λ dλ that lies within [wave.min(), wave.max()]."""
    fw, fr = filter_curve(band)
    inside = (fw >= np.min(wave)) & (fw <= np.max(wave))
    total = np.trapezoid(fr * fw, fw)
    return float(np.trapezoid(np.where(inside, fr * fw, 0.0), fw) / total)


def ab_magnitudes(
    wave: np.ndarray, flux: np.ndarray, bands: tuple[str, ...] = BANDS, unit: float = 1e-17
) -> dict[str, np.ndarray]:
    """AB magnitudes of spectra ``flux`` (N × M, f_λ in ``unit`` erg/s/cm²/Å) on increasing ``wave`` (Å).

    The integral runs over the given pixels only; see :func:`synthesize` for partial coverage.
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=float)) * unit
    out = {}
    for b in bands:
        w, _ = _weights(wave, b)
        num = flux @ w
        den = np.sum(AB_ZERO_FNU * C_AA / wave**2 * w)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[b] = -2.5 * np.log10(num / den)
    return out


def synthesize(wave: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None = None,
               unit: float = 1e-17) -> tuple[np.ndarray, np.ndarray]:
    """ugriz magnitudes in the SDSS system and errors (each length 5, NaN where not synthesisable) of one spectrum.

    A band is synthesised when the spectrum's extent holds at least MIN_COVERAGE of its weighted
    response and its unmasked pixels (finite flux and, given ``ivar``, ivar > 0) at least
    MIN_UNMASKED; masked pixels inside are interpolated over. The error is the photon error from
    ``ivar`` plus the uncovered share as a systematic.
    """
    wave = np.asarray(wave, dtype=float)
    flux = np.asarray(flux, dtype=float)
    good = np.isfinite(flux) & (np.ones_like(flux, bool) if ivar is None else (np.asarray(ivar) > 0))
    mags, errs = np.full(len(BANDS), np.nan), np.full(len(BANDS), np.nan)
    if good.sum() < 10:
        return mags, errs
    filled = np.interp(wave, wave[good], flux[good])
    for k, b in enumerate(BANDS):
        w, total = _weights(wave, b)
        covered = float(np.sum(np.where(good, w, 0.0)) / total)
        span = coverage(wave[good], b)
        if span < MIN_COVERAGE or covered < MIN_UNMASKED:
            continue
        mags[k] = ab_magnitudes(wave, filled[None, :], (b,), unit)[b][0] + AB_TO_SDSS[b]
        num = float(filled @ w)
        var = 0.0 if ivar is None else float(np.sum(np.where(good, w**2 / np.maximum(ivar, 1e-30), 0.0)))
        photon = 1.0857 * np.sqrt(var) / num if num > 0 else np.inf
        errs[k] = float(np.hypot(photon, 1.0857 * (1.0 - span)))
    return mags, errs


def grid_magnitudes(flux: np.ndarray, ivar: np.ndarray | None) -> np.ndarray:
    """(N, 10) SDSS magnitudes then errors synthesised from spectra on the grid (NaN where not possible):
    on the 4,000–9,000 Å grid that is g (97.7 % of its response covered: ≤ 0.03 mag for the rest), r
    and i; never u or z."""
    wave = wavelength()
    flux = np.atleast_2d(flux)
    out = np.full((len(flux), 2 * len(BANDS)), np.nan)
    for k in range(len(flux)):
        mags, errs = synthesize(wave, flux[k], None if ivar is None else np.atleast_2d(ivar)[k])
        out[k] = np.concatenate([mags, errs])
    return out


def fill_from_spectra(
    mags: np.ndarray, flux: np.ndarray, ivar: np.ndarray | None,
    synthesise: Callable[[np.ndarray, np.ndarray | None], np.ndarray] = grid_magnitudes,
) -> np.ndarray:
    """``mags`` (N, 15) with the bands each row lacks taken from ``synthesise(flux, ivar)``; only the
    rows that lack a band are synthesised (a catalogue with every band costs nothing)."""
    mags = np.asarray(mags, dtype=np.float64)
    lacking = np.isnan(mags[:, : len(BANDS)]).any(axis=1)
    if not lacking.any():
        return mags
    out = mags.copy()
    out[lacking] = fill_missing_bands(mags[lacking], synthesise(np.asarray(flux)[lacking],
                                                                None if ivar is None else np.asarray(ivar)[lacking]))
    return out
