"""How SDSS-like is the simulated instrument? Figures measured on a simulated sky beside real ones.

Each figure is measured on the simulated data the way it is measured on real data (a spectrum's
median S/N over the g band, synthetic minus PSF magnitudes for the calibration, the fraction of
ivar = 0 pixels, the 5577 Å residual against the local median, second moments of bright stars in
the cutouts), and is printed beside the real value and where that comes from
(:data:`REAL_FIGURES`). ``fm_window_robustness`` measures how the Balmer fit's fm and D0.2 move
with the fit window, so the KS figures are not read as the property of one estimator setting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Table
from scipy.ndimage import median_filter

from bhb_viewer.core.grid import BANDS, wavelength
from bhb_viewer.core.sim.labels import median_snr
from bhb_viewer.core.sim.spectra import BAND_WAVE, C_AA, SKY_LINE_5577, SN_REFERENCE_GFIB, SpectrumModel, resolution_px

FIT_WINDOWS = (40.0, 55.0, 70.0, 100.0)  # Å either side of the line
SN_FIT_MIN_GFIB = 17.5
SYNTHETIC_BANDS = {"g": (4050.0, 5450.0), "r": (5650.0, 6900.0), "i": (7050.0, 8300.0)}  # Å, inside the grid

# The real figures each simulated one is set against, with their source.
REAL_FIGURES: dict[str, dict] = {
    "snr2_at_gfib_20_2": {
        "real": [24.9, 25.5],
        "source": "spPlate-4055-55359 header SPEC1_G, SPEC2_G ((S/N)² at g_fib = 20.2)",
    },
    "snr_by_g": {
        "real": "several tens at g ≈ 16–17, below ~10 near g ≈ 19",
        "source": "SKY_FACTS.md (SDSS spectra of the Xue 2011 BHBs)",
    },
    "calibration_rms_mag": {
        "real": {"g": 0.065, "r": 0.100, "i": 0.141},
        "source": "spPlate-4055-55359 header GRMSSTD, RRMSSTD, IRMSSTD (standards: spectro − PSF mag)",
    },
    "resolution_sigma_px": {
        "real": {"hdelta_hgamma": [0.93, 1.16], "8500": [0.69, 0.76]},
        "source": "SDSS wdisp of real spPlate frames (issue 9 audit); SKY_FACTS.md R ≈ 1500–2500",
    },
    "mask_fraction": {
        "real": [0.014, 0.056],
        "source": "real plates' bad-pixel fractions (issue 9 audit); "
        "spPlate-4055 FBADPIX 0.047 (0.029, 0.065 per spectrograph)",
    },
    "sky_residual_5577": {
        "real": [10.0, 26.0],
        "source": "largest deviation from the local median at 5577 Å, 1e-17 erg/s/cm²/Å: issue 9 audit 10–26; "
        "spPlate-4055's 20 spectra median 26",
    },
    "psf_fwhm_ratio_u_r": {
        "real": [1.26, 1.34],
        "source": "issue 9 audit of SDSS fields; 1.24 from the PSF_P* models of the run-3900 stamps",
    },
    "ebv_max": {
        "real": 0.1,
        "source": "the paper: SFD98 extinction ≈ 0.1 mag, uncorrected (simulated: the catalogue's dust-map E(B−V))",
    },
}


def _robust_sd(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if x.size else float("nan")


def snr_figures(catalog: Table, flux: np.ndarray, ivar: np.ndarray) -> dict:
    """(S/N)² at g_fib = 20.2 from a straight-line fit of ln (S/N)² against g_fib, and median S/N by g."""
    snr = median_snr(flux, ivar)
    g_fib = (
        np.asarray(catalog["g_fib"], dtype=float)
        if "g_fib" in catalog.colnames
        else np.asarray(catalog["g"], dtype=float)
    )
    ok = np.isfinite(snr) & (snr > 0)
    faint = ok & (g_fib >= SN_FIT_MIN_GFIB)  # the sky-limited part, as the pipeline fits faint fibres
    out: dict = {"snr2_at_gfib_20_2": float("nan")}
    if faint.sum() >= 3:
        slope, icpt = np.polyfit(g_fib[faint], np.log(snr[faint] ** 2), 1)
        out["snr2_at_gfib_20_2"] = float(np.exp(icpt + slope * SN_REFERENCE_GFIB))
    g = np.asarray(catalog["g"], dtype=float)
    out["snr_by_g"] = {
        f"{lo:g}-{hi:g}": (
            float(np.median(snr[ok & (g >= lo) & (g < hi)])) if (ok & (g >= lo) & (g < hi)).any() else None
        )
        for lo, hi in ((14.5, 16.0), (16.0, 17.0), (17.0, 18.0), (18.0, 19.0), (19.0, 19.5))
    }
    return out


def calibration_rms(catalog: Table, flux: np.ndarray, ivar: np.ndarray) -> dict[str, float]:
    """Robust rms of synthetic (spectrum) minus catalogue magnitudes in g, r, i, each after its median offset."""
    wave = wavelength()
    out = {}
    for band, (lo, hi) in SYNTHETIC_BANDS.items():
        sel = (wave >= lo) & (wave <= hi)
        good = np.asarray(ivar[:, sel]) > 0
        mean_flux = np.where(good, np.asarray(flux[:, sel], dtype=float), 0.0).sum(1) / np.maximum(good.sum(1), 1)
        lam = BAND_WAVE[band]
        with np.errstate(invalid="ignore", divide="ignore"):
            synth = -2.5 * np.log10(mean_flux * 1e-17 * lam**2 / C_AA) - 48.6
        out[band] = _robust_sd(synth - np.asarray(catalog[band], dtype=float))
    return out


def mask_figures(ivar: np.ndarray) -> dict[str, float]:
    frac = (np.asarray(ivar) <= 0).mean(axis=1)
    return {"mean": float(frac.mean()), "p5": float(np.percentile(frac, 5)), "p95": float(np.percentile(frac, 95))}


def sky_residual_5577(flux: np.ndarray, ivar: np.ndarray) -> float:
    """Median over spectra of the largest ``|flux − 41-px running median|`` within ±2 px of 5577 Å."""
    wave = wavelength()
    i = int(np.argmin(np.abs(wave - SKY_LINE_5577)))
    block = np.asarray(flux[:, i - 30 : i + 31], dtype=float)
    good = np.asarray(ivar[:, i - 2 : i + 3]) > 0
    base = median_filter(block, size=(1, 41), mode="nearest")[:, 28:33]
    peak = np.where(good, np.abs(block[:, 28:33] - base), -np.inf).max(axis=1)
    peak = peak[np.isfinite(peak)]
    return float(np.median(peak)) if peak.size else float("nan")


def psf_ratio_u_r(catalog: Table, cutouts: np.ndarray, max_g: float = 17.5, radius: float = 10.0) -> float:
    """Median ratio of u to r second-moment radius of bright targets (√⟨r²⟩ within ``radius`` px, sky-subtracted)."""
    bright = np.flatnonzero(np.asarray(catalog["g"]) < max_g)[:400]
    if bright.size == 0:
        return float("nan")
    size = cutouts.shape[-1]
    yy, xx = np.mgrid[:size, :size] + 0.5
    r2 = (xx - size / 2) ** 2 + (yy - size / 2) ** 2
    inner = r2 < radius**2
    widths = []
    for b in (BANDS.index("u"), BANDS.index("r")):
        img = np.asarray(cutouts[bright, b], dtype=float)
        sky = np.median(img[:, r2 > (size / 2 - 4) ** 2], axis=1)
        w = np.clip(img - sky[:, None, None], 0.0, None) * inner
        widths.append(np.sqrt((w * r2).sum((1, 2)) / np.maximum(w.sum((1, 2)), 1e-12)))
    return float(np.median(widths[0] / widths[1]))


def realism_figures(catalog: Table, flux: np.ndarray, ivar: np.ndarray, cutouts: np.ndarray | None,
                    model: SpectrumModel | None = None) -> dict:
    """Every instrument figure of the simulated sky, each beside its real value and source."""
    model = model or SpectrumModel()
    sim: dict = {**snr_figures(catalog, flux, ivar)}
    sim["calibration_rms_mag"] = calibration_rms(catalog, flux, ivar)
    sim["resolution_sigma_px"] = {
        "hdelta": float(resolution_px(model, 4102.89)),
        "hgamma": float(resolution_px(model, 4341.69)),
        "8500": float(resolution_px(model, 8500.0)),
        "fibre_scatter_ln": model.resolution_scatter,
    }
    sim["mask_fraction"] = mask_figures(ivar)
    sim["sky_residual_5577"] = sky_residual_5577(flux, ivar)
    sim["psf_fwhm_ratio_u_r"] = psf_ratio_u_r(catalog, cutouts) if cutouts is not None else None
    sim["ebv_max"] = float(np.max(catalog["ebv"])) if "ebv" in catalog.colnames and len(catalog) else None
    sim["extinction_corrected"] = bool(catalog.meta.get("extinction_corrected", False))
    return {key: {"simulated": value, **REAL_FIGURES.get(key, {})} for key, value in sim.items()}


def fm_window_robustness(flux: np.ndarray, ivar: np.ndarray, select: np.ndarray, reference: Table | None = None,
                         windows: tuple[float, ...] = FIT_WINDOWS) -> dict:
    """fm and D0.2 of the ``select``-ed spectra fitted with each half-window: median, p5, p95, the
    median shift from the default window, and (with the Xue 2011 ``reference``) the KS statistic."""
    from scipy.stats import ks_2samp

    from bhb_viewer.core.science.balmer import HALF_WINDOW, measure_arrays

    rows = np.flatnonzero(select)
    fits = {
        w: measure_arrays(np.asarray(flux[rows]), np.asarray(ivar[rows]), half_window=w)
        for w in sorted({*windows, HALF_WINDOW})
    }
    base = fits[HALF_WINDOW]
    out: dict = {"n": int(rows.size), "default_half_window": HALF_WINDOW, "windows": {}}
    for w in windows:
        entry: dict[str, Any] = {"fit_failures": int((~fits[w]["balmer_ok"]).sum())}
        for q in ("fm", "d02"):
            v = fits[w][q]
            ok = np.isfinite(v)
            entry[q] = {"median": float(np.median(v[ok])) if ok.any() else None,
                        "p5": float(np.percentile(v[ok], 5)) if ok.any() else None,
                        "p95": float(np.percentile(v[ok], 95)) if ok.any() else None,
                        "median_shift": float(np.nanmedian(v - base[q])) if ok.any() else None}
            if reference is not None and ok.any():
                ref = np.asarray(reference[q], dtype=float)
                entry[q]["ks_vs_xue2011"] = float(ks_2samp(np.round(v[ok], 2), ref[np.isfinite(ref)]).statistic)
        out["windows"][f"{w:g}"] = entry
    return out
