"""Simulated SDSS spectra of A-type halo stars on the grid (flux in 1e-17 erg/s/cm²/Å, with ivar).

Physics, in the order it is applied:

* continuum: a smooth curve through the star's intrinsic g, r, i, z flux densities (so the
  spectrum and the cutouts share one set of colours), then interstellar reddening E(B−V)
  through the Cardelli, Clayton & Mathis (1989) curve with R_V = 3.1;
* Balmer lines Hα…H10 and Paschen lines P11…P20: each removes ``D·(1 − exp(−τ·φ(Δλ/w)))`` with
  φ(x) = 1/(1+|x|^p). τ (the n = 2 hydrogen population) peaks near 8,700 K; w, the Stark width,
  grows with gravity (w ∝ g^α: pressure broadening is what separates BHB stars from blue
  stragglers); p, the wing shape, runs from core-dominated (cool) to Stark-dominated (hot)
  profiles. High-order Balmer lines below 4000 Å only leave their wings on the grid's blue end;
* a few metal lines (Ca II K/H (below this grid), Ca I 4227, Mg II 4481, Fe I/II, the Ca II triplet),
  weak and metallicity-dependent;
* a Doppler shift by the radial velocity, then the instrumental profile, a Gaussian whose σ
  falls from ≈ 1.05 px at Hδ to ≈ 0.72 px at 8,500 Å and varies from fibre to fibre;
* noise of a sky-limited fibre spectrograph: object (the fibre's share of the PSF) + sky photons
  through a throughput curve, depth varying from plate to plate, a systematic floor for bright
  stars, sky-line residuals, masked pixels, and a smooth flux-calibration error;
* the inverse variance is what a pipeline would estimate from the *observed* counts, never from
  the noise-free model (which would tell a classifier where the true lines are).

What was calibrated, and on what: the mean relations of τ, w and p with Teff, the depth D and the
Hδ/Hγ width ratio were fitted by least squares to the Xue et al. (2011) BHB medians of D0.2, fm,
c and b in bins of g−r (measured with :mod:`bhb_viewer.core.science.balmer` on noise-free spectra), then
nudged so that noisy spectra with intrinsic scatter match the whole distributions. The gravity
exponent α = 0.2 was not fitted: it is the physical prior (Stark widths grow with electron
density) that decides how unlike a BHB star a blue straggler looks. The instrument and noise
figures are calibrated on real SDSS data; each figure and its source is in :data:`REALISM_SOURCES`
of :mod:`bhb_viewer.core.sim.realism` and in docs/DECISIONS.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from bhb_viewer.core.grid import wavelength

C_KMS = 299_792.458
C_AA = 2.99792458e18  # speed of light in Å/s
BAND_WAVE = {"u": 3540.0, "g": 4760.0, "r": 6280.0, "i": 7690.0, "z": 9250.0}
R_V = 3.1
RYDBERG_H = 109_677.58  # cm⁻¹, hydrogen

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
# Paschen series P11–P20 (8,900–8,470 Å on the grid; P10 at 9,017 Å lies beyond it), vacuum
# wavelengths from the Rydberg formula; τ falls with the upper level as the oscillator strengths do.
PASCHEN = {f"P{n}": (1e8 / (RYDBERG_H * (1 / 9 - 1 / n**2)), 0.3 * (11 / n) ** 3, 0.8) for n in range(11, 21)}
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
METAL_SIGMA_PX = 1.0
PASCHEN_REACH = 60.0  # Å: the lines crowd toward the series limit, so each keeps to its neighbourhood
FIBRE_RADIUS_ARCSEC = 1.5  # SDSS-I/II 3″ fibres (all Xue 2008/2011 stars)
SN_REFERENCE_GFIB = 20.2  # the fibre magnitude at which SDSS headers quote (S/N)² (SPECn_G)
SKY_LINE_5577 = 5578.9  # vacuum Å
BLUR_LEVELS = np.linspace(0.5, 1.5, 6)  # σ (px) of the exact blurs the line-spread function is blended from
FINE_BLUR_LEVELS = np.linspace(0.0, 1.2, 7)  # the same for the small extra blur of 2.5 Å FWHM spectra


@dataclass(frozen=True)
class SpectrumModel:
    """Line, instrument and noise parameters; the values go into every data set's provenance."""

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
    paschen: bool = True
    # Instrument: Gaussian σ in grid pixels (SDSS "wdisp"), linear in λ between two anchors, with
    # a fibre-to-fibre ln scatter (real wdisp 0.93–1.16 px at Hδ/Hγ, 0.69–0.76 px at 8,500 Å).
    resolution_px: tuple[float, float] = (1.05, 0.725)  # at 4,100 and 8,500 Å
    resolution_scatter: float = 0.06
    # Noise: per-pixel S/N (median over 4,000–5,500 Å) = sn_a·f/sqrt(f + sn_s), f the fibre's flux
    # relative to g = 16.5, so (S/N)² at g_fib = 20.2 is ≈ 25 (real SPECn_G 24.9–25.5) …
    sn_a: float = 44.0
    sn_s: float = 0.067
    depth_scatter: float = 0.25  # ln scatter of plate depth
    noise_floor: float = 0.012  # … and a flat-field/systematic floor caps bright stars at S/N ≈ 80
    # Flux calibration: a smooth error in magnitudes, δm(λ) = δ0 + δ1·t + δ2·(t² − 1/3) with t = 0
    # at g and 1 at i; rms 6.5 % g, ≈ 9.5 % r, 14 % i as the real GRMSSTD/RRMSSTD/IRMSSTD.
    fluxcal_mag: tuple[float, float, float] = (0.065, 0.12, 0.03)
    # Sky-subtraction residual, a fraction of each sky line's peak (mean, σ): |residual| at 5577 Å
    # ≈ 10–26 × 1e-17 as on real plates (spPlate-4055: median 26, 18 of 20 over-subtracted).
    sky_residual: tuple[float, float] = (-0.08, 0.06)
    # Masked pixels: a per-spectrum fraction (real plates 1.4–5.6 %, FBADPIX1/2 2.9/6.5 %) in runs.
    mask_fraction: tuple[float, float] = (0.014, 0.056)
    mask_run_px: float = 5.0  # mean run length (bad columns, cosmic rays, bright sky lines)
    extinction_max: float = 0.1  # E(B−V) drawn uniformly in [0, max] (paper: ≈ 0.1 mag, uncorrected)

    def as_dict(self) -> dict:
        return asdict(self)


def ccm_extinction(wave: np.ndarray) -> np.ndarray:
    """A_λ / E(B−V) of Cardelli, Clayton & Mathis (1989), R_V = 3.1 (optical and near-IR parts)."""
    x = 1e4 / np.asarray(wave, dtype=float)  # μm⁻¹
    y = x - 1.82
    a_opt = np.polyval([0.32999, -0.77530, 0.01979, 0.72085, -0.02427, -0.50447, 0.17699, 1.0], y)
    b_opt = np.polyval([-2.09002, 5.30260, -0.62251, -5.38434, 1.07233, 2.28305, 1.41338, 0.0], y)
    a_ir, b_ir = 0.574 * x**1.61, -0.527 * x**1.61
    a = np.where(x >= 1.1, a_opt, a_ir)
    b = np.where(x >= 1.1, b_opt, b_ir)
    return R_V * (a + b / R_V)


BAND_EXTINCTION = {b: float(ccm_extinction(np.array([w]))[0]) for b, w in BAND_WAVE.items()}  # A_b / E(B−V)


def fibre_fraction(seeing_fwhm_arcsec: np.ndarray) -> np.ndarray:
    """Share of a point source's light inside a 3″ fibre for the double-Gaussian PSF of the images."""
    from bhb_viewer.core.sim.images import WING_FRACTION, WING_SCALE

    sigma = np.asarray(seeing_fwhm_arcsec) / 2.3548
    r2 = FIBRE_RADIUS_ARCSEC**2
    core = 1.0 - np.exp(-r2 / (2 * sigma**2))
    wing = 1.0 - np.exp(-r2 / (2 * (WING_SCALE * sigma) ** 2))
    return (1.0 - WING_FRACTION) * core + WING_FRACTION * wing


def band_flux_density(mag: np.ndarray | float, band: str) -> np.ndarray:
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
    w = (
        model.w_ref
        * 10.0 ** (model.alpha_logg * (np.asarray(logg) - 3.2))
        * (1.0 + model.w_teff * t + model.w_teff2 * t**2)
    )
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
    BALMER_TAPER Å (there it removes well under 1 % of the continuum); Paschen lines within
    ±PASCHEN_REACH Å.
    """
    rest_wave = np.atleast_2d(rest_wave)
    out = np.ones(rest_wave.shape)
    tau, w, p = (np.asarray(v, dtype=float)[:, None] for v in (tau, w, p))
    hydrogen = [(line, BALMER_REACH, BALMER_TAPER) for line in BALMER.values()]
    if model.paschen:
        hydrogen += [(line, PASCHEN_REACH, PASCHEN_REACH / 3) for line in PASCHEN.values()]
    for (lam0, ktau, kw), reach, fade in hydrogen:
        cols = _columns(rest_wave, lam0, reach)
        if cols.start >= cols.stop:
            continue
        dist = np.abs(rest_wave[:, cols] - lam0)
        taper = 0.5 * (1.0 + np.cos(np.pi * np.clip((dist - reach + fade) / fade, 0.0, 1.0)))
        x = dist / (w * kw)
        out[:, cols] *= 1.0 - model.depth * (1.0 - np.exp(-ktau * tau * taper / (1.0 + x**p)))
    # Metal lines: narrow Gaussians (σ = 1 grid pixel) with metallicity-scaled equivalent widths.
    feh = np.asarray(feh, dtype=float)[:, None]
    t = (np.asarray(teff, dtype=float)[:, None] - 8000.0) / 1000.0
    for lam0, ew0, kt in METALS.values():
        sigma = lam0 * np.log(10.0) * 1e-4 * METAL_SIGMA_PX
        cols = _columns(rest_wave, lam0, 8.0 * sigma)
        if cols.start >= cols.stop:
            continue
        ew = ew0 * 10.0 ** (0.5 * (feh + 1.5)) * np.exp(kt * t)
        out[:, cols] *= 1.0 - ew / (np.sqrt(2 * np.pi) * sigma) * np.exp(
            -0.5 * ((rest_wave[:, cols] - lam0) / sigma) ** 2
        )
    return np.clip(out, 0.0, None)


def throughput(wave: np.ndarray) -> np.ndarray:
    """Relative system throughput of an SDSS-like spectrograph (peak 1 near 6,000 Å)."""
    return np.exp(-((np.log(wave / 6000.0) / 0.45) ** 2))


def _sky_lines() -> np.ndarray:
    """A fixed night-sky emission line list (Å, peak relative to the sky continuum at 4760 Å)."""
    fixed = [(5578.9, 25.0), (6302.0, 8.0), (6365.5, 3.0), (5891.6, 4.0), (5897.6, 3.0), (4359.3, 1.5), (4047.7, 1.0)]
    oh_rng = np.random.default_rng(20_080_811)  # a frozen, made-up OH forest; not a random draw per star
    oh = [
        (lam, amp)
        for lam, amp in zip(np.sort(oh_rng.uniform(6800, 9000, 70)), oh_rng.lognormal(1.2, 0.6, 70), strict=False)
    ]
    return np.array(fixed + oh)


SKY_LINES = _sky_lines()


def resolution_px(model: SpectrumModel, wave: np.ndarray | float, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Instrumental Gaussian σ in grid pixels at ``wave`` (linear in λ), times a per-fibre ``scale``."""
    lo, hi = model.resolution_px
    sigma = lo + (hi - lo) * (np.asarray(wave) - 4100.0) / (8500.0 - 4100.0)
    return np.asarray(scale)[..., None] * sigma if np.ndim(scale) else scale * sigma


def instrument_blur(x: np.ndarray, sigma_px: np.ndarray, levels: np.ndarray = BLUR_LEVELS) -> np.ndarray:
    """Blur each row of x (N×M) with a Gaussian whose σ (pixels, N×M) varies along the row.

    Exact Gaussian blurs at a few fixed σ, linearly blended per pixel: a wavelength-dependent
    line-spread function at the cost of six ``gaussian_filter1d`` calls.
    """
    s = np.clip(sigma_px, levels[0], levels[-1])
    lower = np.clip(np.searchsorted(levels, s) - 1, 0, len(levels) - 2)
    frac = (s - levels[lower]) / (levels[lower + 1] - levels[lower])
    out = np.zeros_like(x, dtype=float)
    for k, level in enumerate(levels):
        weight = np.where(lower == k, 1.0 - frac, 0.0) + np.where(lower + 1 == k, frac, 0.0)
        if weight.any():
            out += weight * (gaussian_filter1d(x, level, axis=1, mode="nearest") if level > 0 else x)
    return out


def sky_spectrum(wave: np.ndarray, model: SpectrumModel, lines_only: bool = False) -> np.ndarray:
    """Sky in the fibre relative to its continuum at 4760 Å: rising continuum plus emission lines."""
    sky = np.zeros_like(wave) if lines_only else (wave / 4760.0) ** 1.5
    for lam0, amp in SKY_LINES:
        sigma = lam0 * np.log(10.0) * 1e-4 * resolution_px(model, lam0)
        sky = sky + amp * np.exp(-0.5 * ((wave - lam0) / sigma) ** 2)
    return sky


def fluxcal_error(model: SpectrumModel, rng: np.random.Generator, wave: np.ndarray, n: int) -> np.ndarray:
    """Multiplicative flux-calibration error (N×M): smooth in λ, rms per band as on real plates."""
    t = (wave - BAND_WAVE["g"]) / (BAND_WAVE["i"] - BAND_WAVE["g"])
    basis = np.vstack([np.ones_like(t), t, t**2 - 1.0 / 3.0])
    dmag = (rng.standard_normal((n, 3)) * np.asarray(model.fluxcal_mag)) @ basis
    return 10.0 ** (-0.4 * dmag)


def masked_pixels(model: SpectrumModel, rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """Boolean N×M mask: runs of bad pixels covering a per-spectrum fraction drawn from the plate range."""
    frac = rng.uniform(*model.mask_fraction, n)
    n_runs = rng.poisson(frac * m / model.mask_run_px)
    mask = np.zeros((n, m), dtype=bool)
    k = int(n_runs.max()) if n else 0
    starts = rng.integers(0, m, (n, k))
    lengths = rng.geometric(1.0 / model.mask_run_px, (n, k))
    cols = np.arange(m)
    for j in range(k):
        use = n_runs > j
        mask[use] |= (cols[None, :] >= starts[use, j, None]) & (
            cols[None, :] < starts[use, j, None] + lengths[use, j, None]
        )
    return mask


def simulate_spectra(
    model: SpectrumModel,
    rng: np.random.Generator,
    mags: dict[str, np.ndarray],
    teff: np.ndarray,
    logg: np.ndarray,
    feh: np.ndarray,
    rv: np.ndarray,
    ebv: np.ndarray,
    seeing_r: np.ndarray,
    deredden: bool = False,
    intrinsic: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Observed flux and ivar (N×NPIX, float32) and the noise-free stellar spectrum for stars with
    the given intrinsic magnitudes and parameters.

    ``clean`` is the star as the instrument sees it without noise, reddening or calibration error:
    what an independent catalogue's line measurement converges to (used for the Xue-cut labels).
    With ``deredden`` the observed flux and ivar are corrected with the star's own E(B−V).
    ``intrinsic`` (N×NPIX, the empirical engine's stars on the grid at MILES resolution) replaces
    the parametric continuum and lines; the instrument then adds only the resolution SDSS lacks.
    """
    from bhb_viewer.core.sim.images import SEEING_BAND_FACTOR

    wave = wavelength()
    n, m = len(teff), wave.size
    if intrinsic is None:
        rest = wave[None, :] / (1.0 + np.asarray(rv)[:, None] / C_KMS)
        tau, w, p = line_parameters(model, teff, logg, rng)
        shape = absorption(model, rest, tau, w, p, feh, teff)
        sigma_px = resolution_px(model, wave, np.exp(rng.normal(0.0, model.resolution_scatter, n)))
        clean = continuum(mags, wave) * instrument_blur(shape, sigma_px)
    else:
        from bhb_viewer.core.sim.stellar import extra_blur_px

        sigma_px = resolution_px(model, wave, np.exp(rng.normal(0.0, model.resolution_scatter, n)))
        clean = instrument_blur(intrinsic, extra_blur_px(sigma_px), levels=FINE_BLUR_LEVELS)
    redden = 10.0 ** (-0.4 * np.asarray(ebv)[:, None] * ccm_extinction(wave)[None, :])
    true = clean * redden
    # Photon noise: the fibre's share of object electrons + sky, scaled to the S/N(g_fib) law.
    ff = fibre_fraction(np.asarray(seeing_r) * SEEING_BAND_FACTOR["g"])[:, None]
    f165 = float(band_flux_density(16.5, "g"))
    thr = throughput(wave)[None, :]
    gain = model.sn_a**2 / (throughput(np.array([BAND_WAVE["g"]]))[0] * f165)
    gain = gain * np.exp(rng.normal(0.0, model.depth_scatter, n))[:, None]
    sky = model.sn_s * f165 * sky_spectrum(wave, model)[None, :]

    def variance(signal: np.ndarray) -> np.ndarray:
        signal = np.maximum(signal, 0.0)
        return (ff * signal + sky) / (ff**2 * gain * thr) + (model.noise_floor * signal) ** 2

    calib = fluxcal_error(model, rng, wave, n)
    residual = (
        rng.normal(*model.sky_residual, (n, 1))
        * model.sn_s
        * f165
        * sky_spectrum(wave, model, lines_only=True)[None, :]
    )
    measured = true + residual + np.sqrt(variance(true)) * rng.standard_normal((n, m))
    flux = calib * measured
    # The pipeline's variance: from the observed counts, in its (mis)calibrated units.
    var = calib**2 * variance(measured)
    mask = masked_pixels(model, rng, n, m)
    if deredden:
        flux, var = flux / redden, var / redden**2
    ivar = np.where(mask, 0.0, 1.0 / var)
    flux = np.where(mask, 0.0, flux)
    return {"flux": flux.astype(np.float32), "ivar": ivar.astype(np.float32), "clean": clean}
