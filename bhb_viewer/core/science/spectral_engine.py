"""The empirical spectral engine: real MILES stars, emulated as a smooth function of Teff, log g and [Fe/H].

Why: a parametric line profile decides by assumption how gravity changes a Balmer line, and a
network trained on it learns the assumption. Here every pixel's log flux is a polynomial in
(θ = 5040/Teff, log g, [Fe/H]) fitted by weighted ridge regression to the MILES stars of
6,000–14,000 K (Sánchez-Blázquez et al. 2006; parameters Cenarro et al. 2007), a Cannon-like
model (Ness et al. 2015) at MILES's 2.5 Å FWHM over 3,548–7,405 Å (rest, vacuum). The order and
the weight of horizontal-branch-like stars were chosen by leave-one-star-out error on the fitted
stars only; ``scripts/fit_spectral_engine.py`` refits it from the sdss-mangadap wheel and writes
the figures to ``bhb_viewer/resources/engine/fit_report.json``.

Beyond MILES, stated choices:

* below 3,548 Å (the blue half of the u filter): the Balmer continuum as a power law in λ fitted
  to the engine's own 3,550–3,640 Å flux, i.e. bluewards of the Balmer limit, where only the
  Balmer continuum shapes it. Its level and slope are the engine's, so they follow log g (the
  jump is the ratio of this level to the flux redwards of 3,646 Å, which MILES measures);
* redwards of 7,300 Å: a power law through the engine's 6,700–7,300 Å continuum, blended in over
  7,300–7,400 Å, times the parametric model's Paschen and Ca II triplet lines
  (:func:`bhb_viewer.core.sim.spectra.absorption`).

The engine is thin where BHB stars and blue stragglers live (MILES has few metal-poor stars of
7,000–10,000 K), so :meth:`EmpiricalEngine.coverage` tells how far a parameter set is from the
nearest fitted star, and the simulator draws only where one is near.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.resources import resource_path

ENGINE_VERSION = "1.0"
ENGINE_FILE = "miles_engine.npz"
HOLDOUT_FILE = "miles_holdout.csv"
HOLDOUT_SPECTRA_FILE = "miles_holdout_spectra.npz"
ENGINE_DIR = Path("engine")
TEFF_RANGE = (6000.0, 14000.0)
DLOGLAM = 1e-4
# Grids are whole multiples of DLOGLAM in log10 λ, so the engine's pixels are a slice of the SED's.
REST_PIXELS = (35500, 38695)  # 3,548–7,404 Å vacuum: the MILES range (3,540.5–7,409.6 Å air)
SED_PIXELS = (34676, 40531)  # 2,935–11,300 Å: all five SDSS filters
NORM_WINDOW = (5400.0, 5600.0)  # Å: log flux is stored relative to its mean here
BLUE_FIT = (3550.0, 3640.0)
RED_FIT = (6700.0, 7300.0)
RED_BLEND = (7300.0, 7400.0)
# Feature scaling of the polynomial; the coverage metric's units (how near a MILES star must be).
CENTRE = (0.6, 3.5, -0.7)
SCALE = (0.12, 1.0, 0.8)
COVERAGE_UNITS = (0.04, 0.5, 0.6)  # Δθ (≈ 500 K at 8,000 K), Δlog g, Δ[Fe/H]: one unit of distance
MAX_COVERAGE_DISTANCE = 1.0
HB_LIKE_LOGG_MAX, HB_LIKE_FEH_MAX = 3.6, -0.8
GROUP_TEFF = (7000.0, 10500.0)  # K: where HB-like stars and dwarfs are compared
DWARF_LOGG_MIN = 3.8


def rest_loglam() -> np.ndarray:
    """log10 of the engine's rest-frame vacuum wavelengths (1e-4 dex steps, as the SDSS grid)."""
    return DLOGLAM * np.arange(*REST_PIXELS)


def sed_loglam() -> np.ndarray:
    """log10 λ of the extended SED (2,980–11,300 Å) that photometry is computed from."""
    return DLOGLAM * np.arange(*SED_PIXELS)


def air_to_vacuum(wave_air: np.ndarray) -> np.ndarray:
    """Vacuum wavelength of air wavelengths (Morton 1991's refractive index; MILES is in air)."""
    s2 = (1e4 / np.asarray(wave_air, dtype=float)) ** 2
    n = 1.0 + 8.34254e-5 + 2.406147e-2 / (130.0 - s2) + 1.5998e-4 / (38.9 - s2)
    return wave_air * n


def resample_log(loglam_in: np.ndarray, flux: np.ndarray, loglam_out: np.ndarray) -> np.ndarray:
    """Linear interpolation onto another log-λ grid (both near 1e-4 dex per pixel); NaN outside."""
    return np.interp(loglam_out, loglam_in, flux, left=np.nan, right=np.nan)


def group_of(teff: np.ndarray, logg: np.ndarray, feh: np.ndarray) -> np.ndarray:
    """``hb_like`` (log g ≤ 3.6, [Fe/H] ≤ −0.8, 7,000–10,500 K), ``dwarf`` (log g ≥ 3.8, same Teff) or ``other``."""
    in_t = (teff >= GROUP_TEFF[0]) & (teff <= GROUP_TEFF[1])
    hb = in_t & (logg <= HB_LIKE_LOGG_MAX) & (feh <= HB_LIKE_FEH_MAX)
    dwarf = in_t & (logg >= DWARF_LOGG_MIN)
    return np.where(hb, "hb_like", np.where(dwarf, "dwarf", "other"))


def _scaled(teff, logg, feh) -> np.ndarray:
    theta = 5040.0 / np.asarray(teff, dtype=float)
    cols = [theta, np.asarray(logg, dtype=float), np.asarray(feh, dtype=float)]
    return np.stack([(c - m) / s for c, m, s in zip(cols, CENTRE, SCALE, strict=True)], axis=-1)


def design_matrix(teff, logg, feh, order: int) -> np.ndarray:
    """All monomials of the scaled (θ, log g, [Fe/H]) up to total degree ``order`` (N × K)."""
    x = _scaled(teff, logg, feh)
    terms = [np.ones(len(x))]
    for degree in range(1, order + 1):
        for combo in itertools.combinations_with_replacement(range(3), degree):
            terms.append(np.prod(x[:, list(combo)], axis=1))
    return np.stack(terms, axis=1)


def _mean_in(loglam: np.ndarray, flux: np.ndarray, lo: float, hi: float) -> np.ndarray:
    sel = (loglam >= np.log10(lo)) & (loglam <= np.log10(hi))
    return np.mean(flux[..., sel], axis=-1)


def balmer_jump(loglam: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """Balmer-jump index in magnitudes: −2.5 log10 of the mean flux over 3,560–3,640 Å / 4,000–4,080 Å."""
    return -2.5 * np.log10(_mean_in(loglam, flux, 3560.0, 3640.0) / _mean_in(loglam, flux, 4000.0, 4080.0))


def power_law_extension(
    loglam: np.ndarray, flux: np.ndarray, fit: tuple[float, float], loglam_out: np.ndarray
) -> np.ndarray:
    """A power law f ∝ λ^β fitted (in log–log) to ``flux`` over ``fit`` Å, evaluated at ``loglam_out`` (N × M)."""
    sel = (loglam >= np.log10(fit[0])) & (loglam <= np.log10(fit[1]))
    x = loglam[sel] - loglam[sel].mean()
    y = np.log10(np.atleast_2d(flux)[:, sel])
    slope = (y - y.mean(axis=1, keepdims=True)) @ x / (x @ x)
    return 10.0 ** (y.mean(axis=1, keepdims=True) + slope[:, None] * (loglam_out[None, :] - loglam[sel].mean()))


@dataclass(frozen=True)
class EmpiricalEngine:
    """The fitted emulator: ``flux`` gives rest-frame spectra, ``sed`` the extended 2,935–11,300 Å SED."""

    coef: np.ndarray  # K × M, log10 flux relative to NORM_WINDOW
    loglam: np.ndarray
    order: int
    stars: np.ndarray  # fitted stars' (θ, log g, [Fe/H]) for the coverage test, S × 3
    residuals: np.ndarray  # their leave-one-out residuals (log10 flux), S × M: real star-to-star variety
    ids: tuple[str, ...]  # their MILES numbers (s0018, …)
    version: str
    sha256: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> EmpiricalEngine:
        file = Path(path) if path is not None else resource_path(ENGINE_DIR / ENGINE_FILE)
        try:
            with np.load(file) as z:
                stars = np.stack([5040.0 / z["teff"], z["logg"], z["feh"]], axis=1)
                return cls(z["coef"].astype(np.float64), z["loglam"], int(z["order"]), stars,
                           z["residuals"].astype(np.float64), tuple(str(i) for i in z["ids"]), str(z["version"]),
                           hashlib.sha256(file.read_bytes()).hexdigest())
        except (OSError, KeyError, ValueError) as exc:
            raise BadInputError(file, f"not a spectral engine file ({exc})") from exc

    def provenance(self) -> dict:
        return {"engine": "empirical", "library": "MILES (Sánchez-Blázquez et al. 2006; Cenarro et al. 2007)",
                "engine_version": self.version, "engine_sha256": self.sha256, "order": self.order,
                "n_fitted_stars": len(self.stars)}

    def flux(self, teff, logg, feh) -> np.ndarray:
        """Rest-frame f_λ on :attr:`loglam`, relative to its 5,400–5,600 Å mean (N × M)."""
        return 10.0 ** (
            design_matrix(np.atleast_1d(teff), np.atleast_1d(logg), np.atleast_1d(feh), self.order) @ self.coef
        )

    def _distances(self, teff, logg, feh) -> np.ndarray:
        p = np.stack([5040.0 / np.atleast_1d(teff), np.atleast_1d(logg), np.atleast_1d(feh)], axis=1)
        d = (p[:, None, :] - self.stars[None, :, :]) / np.asarray(COVERAGE_UNITS)
        return np.sqrt((d**2).sum(axis=2))

    def coverage(self, teff, logg, feh) -> np.ndarray:
        """Distance to the nearest fitted MILES star in COVERAGE_UNITS (≤ 1: the engine is backed by data)."""
        return self._distances(teff, logg, feh).min(axis=1)

    def pick_residuals(self, rng: np.random.Generator, teff, logg, feh, k: int = 5) -> np.ndarray:
        """For each star, the index of one of the k fitted MILES stars nearest in parameters, at random.

        Its leave-one-out residual is added to the emulated spectrum: the sky's stars then scatter
        about the emulator as real stars do (flux calibration, unresolved parameters, peculiarity).
        """
        nearest = np.argsort(self._distances(teff, logg, feh), axis=1)[:, :k]
        return nearest[np.arange(len(nearest)), rng.integers(0, k, len(nearest))]

    def sed(
        self, teff, logg, feh, red_lines: np.ndarray | None = None, residual: np.ndarray | None = None
    ) -> np.ndarray:
        """f_λ on :func:`sed_loglam` (N × M'): the engine where MILES is, its stated extensions elsewhere.

        ``red_lines`` (N × M', optional) multiplies the red extension only: the parametric Paschen
        and Ca II triplet absorption, which the simulator computes with its own line model.
        ``residual`` (N indices from :meth:`pick_residuals`) adds those stars' residuals before
        the extensions are fitted, so u and the Balmer jump carry them too.
        """
        core = self.flux(teff, logg, feh)
        if residual is not None:
            core = core * 10.0 ** self.residuals[residual]
        out_ll = sed_loglam()
        blue = power_law_extension(self.loglam, core, BLUE_FIT, out_ll)
        red = power_law_extension(self.loglam, core, RED_FIT, out_ll)
        if red_lines is not None:
            red = red * red_lines
        start = REST_PIXELS[0] - SED_PIXELS[0]
        core_on = np.full((len(core), out_ll.size), np.nan)
        core_on[:, start:start + core.shape[1]] = core
        wave = 10.0**out_ll
        blend = np.clip((wave - RED_BLEND[0]) / (RED_BLEND[1] - RED_BLEND[0]), 0.0, 1.0)
        sed = np.where(wave < 10.0 ** self.loglam[0], blue, core_on)
        sed = np.where(wave >= RED_BLEND[0], (1.0 - blend) * np.nan_to_num(core_on, nan=0.0) + blend * red, sed)
        return np.where(wave >= RED_BLEND[1], red, sed)


@cache
def default_engine() -> EmpiricalEngine:
    """The committed engine (read once per process)."""
    return EmpiricalEngine.load()
