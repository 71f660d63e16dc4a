"""The empirical engine's stars as the telescope receives them: scaled SEDs, magnitudes, Doppler shift.

:mod:`.engine` gives a star's relative spectrum at rest; here it becomes flux at the Earth
(1e-17 erg/s/cm²/Å, scaled to the star's g), its intrinsic ugriz magnitudes (through the SDSS
response curves, so u−g carries the star's own Balmer jump), and the flux on the SDSS grid after
the star's radial velocity. Instrument, reddening and noise are :mod:`.spectra`'s, as for the
parametric engine.
"""

from __future__ import annotations

import numpy as np

from bhb_viewer.core.grid import BANDS, wavelength
from bhb_viewer.core.science.photometry import AB_TO_SDSS, ab_magnitudes
from bhb_viewer.core.science.spectral_engine import RED_BLEND, EmpiricalEngine, sed_loglam
from bhb_viewer.core.sim.spectra import C_KMS, SpectrumModel, absorption, line_parameters

CHUNK = 512  # stars per SED evaluation (an SED is ~5,900 pixels)
MILES_FWHM = 2.5  # Å: the engine's resolution; the instrument adds only what SDSS has beyond it


def star_seds(
    engine: EmpiricalEngine, model: SpectrumModel, teff, logg, feh, residual: np.ndarray | None
) -> np.ndarray:
    """Relative rest-frame SEDs on :func:`.engine.sed_loglam` with the parametric Paschen and Ca II
    triplet lines on the red extension (where MILES has no data)."""
    ll = sed_loglam()
    red = 10.0**ll >= RED_BLEND[0]
    tau, w, p = line_parameters(model, teff, logg)
    lines = np.ones((len(np.atleast_1d(teff)), ll.size))
    rest_red = np.broadcast_to(10.0 ** ll[red], (lines.shape[0], int(red.sum())))
    lines[:, red] = absorption(model, rest_red, tau, w, p, feh, teff)
    return engine.sed(teff, logg, feh, red_lines=lines, residual=residual)


def sed_magnitudes(sed: np.ndarray) -> dict[str, np.ndarray]:
    """AB magnitudes of relative SEDs (taken as f_λ in 1e-17 erg/s/cm²/Å)."""
    return ab_magnitudes(10.0 ** sed_loglam(), sed)


def intrinsic_magnitudes(
    engine: EmpiricalEngine, model: SpectrumModel, teff, logg, feh, residual, g: np.ndarray
) -> dict[str, np.ndarray]:
    """ugriz (SDSS system, as psfMag) of each star scaled to its g, from its own SED (in chunks: SEDs are large)."""
    n = len(teff)
    out = {b: np.empty(n) for b in BANDS}
    for start in range(0, n, CHUNK):
        sl = slice(start, min(n, start + CHUNK))
        mags = sed_magnitudes(star_seds(engine, model, teff[sl], logg[sl], feh[sl], residual[sl]))
        for b in BANDS:
            out[b][sl] = mags[b] - mags["g"] + g[sl] + AB_TO_SDSS[b]
    return out


def observed_flux(engine: EmpiricalEngine, model: SpectrumModel, teff, logg, feh, residual, g, rv) -> np.ndarray:
    """The stars' flux on the SDSS grid (N × NPIX, 1e-17 units) after their radial velocity, at MILES resolution."""
    sed = star_seds(engine, model, teff, logg, feh, residual)
    scale = 10.0 ** (-0.4 * (np.asarray(g) - sed_magnitudes(sed)["g"]))
    rest = np.log10(wavelength()[None, :] / (1.0 + np.asarray(rv)[:, None] / C_KMS))
    ll = sed_loglam()
    return np.stack([np.interp(rest[i], ll, sed[i]) for i in range(len(sed))]) * scale[:, None]


def extra_blur_px(sdss_sigma_px: np.ndarray) -> np.ndarray:
    """σ (grid pixels) that brings a 2.5 Å FWHM spectrum to the SDSS resolution (0 where MILES is coarser)."""
    wave = wavelength()
    miles_px = MILES_FWHM / 2.3548 / (wave * np.log(10.0) * 1e-4)
    return np.sqrt(np.clip(sdss_sigma_px**2 - miles_px**2, 0.0, None))
