"""Simulated SDSS spectra of A-type halo stars on the grid (flux in 1e-17 erg/s/cm²/Å, with ivar).

Physics, in the order it is applied:

* continuum: a smooth curve through the star's g, r, i, z flux densities (so the spectrum and the
  cutouts share one set of colours);
* Balmer lines Hα…H10: each removes ``D·(1 − exp(−τ·φ(Δλ/w)))`` with φ(x) = 1/(1+|x|^p). τ (the
  n = 2 hydrogen population) peaks near 8,700 K; w, the Stark width, grows with gravity
  (w ∝ g^α: pressure broadening is what separates BHB stars from blue stragglers); p, the wing
  shape, runs from core-dominated (cool) to Stark-dominated (hot) profiles. High-order lines below
  4000 Å only leave their wings on the grid's blue end;
* a few metal lines (Ca II K/H (below this grid), Ca I 4227, Mg II 4481, Fe I/II, the Ca II triplet),
  weak and metallicity-dependent;
* a Doppler shift by the radial velocity, then the instrumental profile (R ≈ 1,800 at Hδ–Hγ);
* noise of a sky-limited fibre spectrograph: object + sky photons through a throughput curve,
  depth varying from plate to plate, sky-line residuals, and a few-per-cent flux-calibration
  wiggle.

What was calibrated, and on what: the mean relations of τ, w and p with Teff, the depth D and the
Hδ/Hγ width ratio were fitted by least squares to the Xue et al. (2011) BHB medians of D0.2, fm,
c and b in bins of g−r (measured with :mod:`bhb_viewer.core.balmer` on noise-free spectra), then
nudged so that noisy spectra with intrinsic scatter match the whole distributions. The gravity
exponent α = 0.2 was not fitted: it is the physical prior (Stark widths grow with electron
density) that decides how unlike a BHB star a blue straggler looks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from bhb_viewer.core.grid import wavelength

C_KMS = 299_792.458
C_AA = 2.99792458e18  # speed of light in Å/s
BAND_WAVE = {"u": 3540.0, "g": 4760.0, "r": 6280.0, "i": 7690.0, "z": 9250.0}

# (rest vacuum Å, τ factor, width factor) relative to Hγ.
BALMER = {
    "Ha": (6564.61, 1.5, 0.75),
    "Hb": (4862.68, 1.2, 1.0),
    "Hg": (4341.69, 1.0, 1.0),
    "Hd": (4102.89, 1.0, 1.02),
    "He": (3971.20, 0.85, 0.95),
    "H8": (3890.17, 0.7, 0.85),
    "H9": (3836.47, 0.55, 0.75),
    "H10": (3798.98, 0.45, 0.65),
}
# (rest vacuum Å, equivalent width in Å at [Fe/H] = −1.5 and 8,000 K, temperature sensitivity per 1000 K)
METALS = {
    "CaII_K": (3934.78, 1.2, -0.35),
    "CaII_H": (3969.59, 0.8, -0.35),
    "CaI_4227": (4227.92, 0.12, -0.6),
    "FeII_4233": (4234.16, 0.10, -0.3),
    "FeI_4384": (4384.77, 0.10, -0.5),
    "MgII_4481": (4482.58, 0.30, -0.1),
    "FeII_5169": (5170.47, 0.12, -0.3),
    "CaII_8498": (8500.36, 0.25, -0.3),
    "CaII_8542": (8544.44, 0.55, -0.3),
    "CaII_8662": (8664.52, 0.45, -0.3),
}


BALMER_REACH, BALMER_TAPER = 600.0, 200.0  # Å


@dataclass(frozen=True)
class SpectrumModel:
    """Line and noise parameters; the version and values go into every data set's provenance."""

    depth: float = 0.97  # D: the most a Balmer line can remove
    tau_ref: float = 1.58  # τ of Hγ at teff_peak
    teff_peak: float = 8250.0
    tau_width: float = 3040.0  # K, Gaussian fall-off of τ with Teff
    w_ref: float = 4.54  # Å, Stark width of Hγ at 8,500 K and log g = 3.2
    w_teff: float = 0.121  # fractional change of w per 1000 K
    w_teff2: float = -0.30  # curvature of w in (Teff − 8500)/1000
    alpha_logg: float = 0.20  # w ∝ g^alpha (pressure broadening)
    p_ref: float = 1.51  # wing shape at 8,500 K
    p_teff: float = 0.45  # per 1000 K
    scatter_tau: float = 0.06  # intrinsic star-to-star scatter (ln)
    scatter_w: float = 0.04  # (ln)
    scatter_p: float = 0.02
    resolution_sigma_px: float = 1.0  # Gaussian σ of the instrument in grid pixels (≈ R 1,800)
    sn_a: float = 36.9  # per-pixel S/N at 4760 Å = sn_a·f/sqrt(f + sn_s), f = flux / flux(g = 16.5)
    sn_s: float = 0.113
    depth_scatter: float = 0.25  # ln scatter of plate depth
    fluxcal_wiggle: float = 0.02

    def as_dict(self) -> dict:
        return asdict(self)


def band_flux_density(mag: np.ndarray, band: str) -> np.ndarray:
    """f_λ at the band's effective wavelength, 1e-17 erg/s/cm²/Å, for an AB magnitude."""
    lam = BAND_WAVE[band]
    return 10.0 ** (-0.4 * (np.asarray(mag) + 48.6)) * C_AA / lam**2 * 1e17


def continuum(mags: dict[str, np.ndarray], wave: np.ndarray) -> np.ndarray:
    """Smooth continuum through g, r, i, z: a quadratic in log λ fitted to log f_λ (N×len(wave))."""
    bands = ("g", "r", "i", "z")
    x = np.log10(np.array([BAND_WAVE[b] for b in bands]) / 6000.0)
    y = np.stack([np.log10(band_flux_density(mags[b], b)) for b in bands], axis=1)  # N×4
    design = np.vander(x, 3)
    coef = np.linalg.lstsq(design, y.T, rcond=None)[0]  # 3×N
    xw = np.log10(wave / 6000.0)
    return 10.0 ** (coef.T @ np.vander(xw, 3).T)


def line_parameters(model: SpectrumModel, teff, logg, rng: np.random.Generator | None = None):
    """τ, w, p of Hγ for each star (with intrinsic scatter when a generator is given)."""
    t = (np.asarray(teff) - 8500.0) / 1000.0
    tau = model.tau_ref * np.exp(-(((np.asarray(teff) - model.teff_peak) / model.tau_width) ** 2))
    w = model.w_ref * 10.0 ** (model.alpha_logg * (np.asarray(logg) - 3.2)) * (1.0 + model.w_teff * t + model.w_teff2 * t**2)
    p = model.p_ref + model.p_teff * t
    if rng is not None:
        n = np.shape(teff)
        tau = tau * np.exp(rng.normal(0.0, model.scatter_tau, n))
        w = w * np.exp(rng.normal(0.0, model.scatter_w, n))
        p = p + rng.normal(0.0, model.scatter_p, n)
    return tau, np.maximum(w, 0.5), np.clip(p, 0.8, 3.0)


def _columns(rest_wave: np.ndarray, lam0: float, half: float) -> slice:
    """Grid columns whose rest wavelength can lie within ``half`` Å of lam0 for any star."""
    lo = np.searchsorted(rest_wave.max(axis=0), lam0 - half)
    hi = np.searchsorted(rest_wave.min(axis=0), lam0 + half, side="right")
    return slice(int(lo), int(hi))


def absorption(model: SpectrumModel, rest_wave: np.ndarray, tau, w, p, feh, teff) -> np.ndarray:
    """Normalised stellar spectrum (1 = continuum) at rest-frame wavelengths (N×M, each row increasing).

    Each Balmer line is computed within ±BALMER_REACH Å, its far wing tapered to zero over the last
    BALMER_TAPER Å (there it removes well under 1 % of the continuum).
    """
    rest_wave = np.atleast_2d(rest_wave)
    out = np.ones(rest_wave.shape)
    tau, w, p = (np.asarray(v, dtype=float)[:, None] for v in (tau, w, p))
    for lam0, ktau, kw in BALMER.values():
        cols = _columns(rest_wave, lam0, BALMER_REACH)
        if cols.start >= cols.stop:
            continue
        dist = np.abs(rest_wave[:, cols] - lam0)
        taper = 0.5 * (1.0 + np.cos(np.pi * np.clip((dist - BALMER_REACH + BALMER_TAPER) / BALMER_TAPER, 0.0, 1.0)))
        x = dist / (w * kw)
        out[:, cols] *= 1.0 - model.depth * (1.0 - np.exp(-ktau * tau * taper / (1.0 + x**p)))
    # Metal lines: Gaussians of the instrumental width with metallicity-scaled equivalent widths.
    feh = np.asarray(feh, dtype=float)[:, None]
    t = (np.asarray(teff, dtype=float)[:, None] - 8000.0) / 1000.0
    for lam0, ew0, kt in METALS.values():
        sigma = lam0 * np.log(10.0) * 1e-4 * model.resolution_sigma_px
        cols = _columns(rest_wave, lam0, 8.0 * sigma)
        if cols.start >= cols.stop:
            continue
        ew = ew0 * 10.0 ** (0.5 * (feh + 1.5)) * np.exp(kt * t)
        out[:, cols] *= 1.0 - ew / (np.sqrt(2 * np.pi) * sigma) * np.exp(-0.5 * ((rest_wave[:, cols] - lam0) / sigma) ** 2)
    return np.clip(out, 0.0, None)


def throughput(wave: np.ndarray) -> np.ndarray:
    """Relative system throughput of an SDSS-like spectrograph (peak 1 near 6,000 Å)."""
    return np.exp(-((np.log(wave / 6000.0) / 0.45) ** 2))


def _sky_lines() -> np.ndarray:
    """A fixed night-sky emission line list (Å, peak relative to the sky continuum at 4760 Å)."""
    fixed = [(5578.9, 25.0), (6302.0, 8.0), (6365.5, 3.0), (5891.6, 4.0), (5897.6, 3.0), (4359.3, 1.5), (4047.7, 1.0)]
    oh_rng = np.random.default_rng(20_080_811)  # a frozen, made-up OH forest; not a random draw per star
    oh = [(lam, amp) for lam, amp in zip(np.sort(oh_rng.uniform(6800, 9000, 70)), oh_rng.lognormal(1.2, 0.6, 70))]
    return np.array(fixed + oh)


SKY_LINES = _sky_lines()


def sky_spectrum(wave: np.ndarray, sigma_px: float) -> np.ndarray:
    """Sky in the fibre relative to its continuum at 4760 Å: rising continuum plus emission lines."""
    sky = (wave / 4760.0) ** 1.5
    for lam0, amp in SKY_LINES:
        sigma = lam0 * np.log(10.0) * 1e-4 * sigma_px
        sky = sky + amp * np.exp(-0.5 * ((wave - lam0) / sigma) ** 2)
    return sky


def simulate_spectra(
    model: SpectrumModel,
    rng: np.random.Generator,
    mags: dict[str, np.ndarray],
    teff: np.ndarray,
    logg: np.ndarray,
    feh: np.ndarray,
    rv: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Flux and ivar (N×NPIX, float32) for stars with the given parameters."""
    wave = wavelength()
    n = len(teff)
    rest = wave[None, :] / (1.0 + np.asarray(rv)[:, None] / C_KMS)
    tau, w, p = line_parameters(model, teff, logg, rng)
    shape = absorption(model, rest, tau, w, p, feh, teff)
    true = continuum(mags, wave) * gaussian_filter1d(shape, model.resolution_sigma_px, axis=1, mode="nearest")
    # Photon noise: object + sky electrons through the throughput, scaled to the S/N(g) law.
    f165 = float(band_flux_density(16.5, "g"))
    thr = throughput(wave)
    gain = model.sn_a**2 / (throughput(np.array([BAND_WAVE["g"]]))[0] * f165)
    gain = gain * np.exp(rng.normal(0.0, model.depth_scatter, n))[:, None]
    sky = model.sn_s * f165 * sky_spectrum(wave, model.resolution_sigma_px)
    var = (np.maximum(true, 0.0) + sky[None, :]) / (gain * thr[None, :])
    sigma = np.sqrt(var)
    # Flux-calibration wiggle (multiplicative, low order) and sky-subtraction residuals.
    xw = np.linspace(-1.0, 1.0, wave.size)
    wiggle = 1.0 + rng.normal(0.0, model.fluxcal_wiggle, (n, 2)) @ np.vstack([xw, 1.5 * xw**2 - 0.5])
    residual = rng.normal(0.0, 0.02, (n, 1)) * (sky[None, :] - model.sn_s * f165 * (wave / 4760.0) ** 1.5)
    flux = true * wiggle + residual + sigma * rng.standard_normal((n, wave.size))
    return flux.astype(np.float32), (1.0 / var).astype(np.float32)
