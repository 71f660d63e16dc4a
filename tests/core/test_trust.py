"""The physical second opinion (core.science.stellar_fit) and the trust flags (core.science.trust)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from bhb_viewer.core.grid import loglam
from bhb_viewer.core.readers.spectra import read_spectra
from bhb_viewer.core.science.balmer import measure_arrays
from bhb_viewer.core.science.spectral_engine import default_engine
from bhb_viewer.core.science.stellar_fit import C_KMS, fit_spectra
from bhb_viewer.core.science.trust import TrainingSky, explain, flags, is_ood, measure, training_ranges


def engine_star(
    teff: float, logg: float, feh: float, rv: float, snr: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """An engine spectrum on the grid at velocity ``rv`` with Gaussian noise of S/N ``snr`` per pixel."""
    engine = default_engine()
    rest = np.log10(10.0 ** loglam() / (1.0 + rv / C_KMS))
    flux = np.interp(rest, engine.loglam, engine.flux(teff, logg, feh)[0], left=np.nan, right=np.nan)
    flux = np.where(np.isfinite(flux), flux, 1.0)  # the engine stops at 7,404 Å: a flat continuum beyond
    sigma = np.median(flux) / snr
    noisy = flux + np.random.default_rng(seed).normal(0.0, sigma, flux.size)
    return noisy[None, :], np.full((1, flux.size), sigma**-2)


@pytest.mark.parametrize(("teff", "logg", "feh", "rv"), [(8500.0, 3.2, -1.6, 180.0), (8000.0, 4.2, -0.2, -60.0)])
def test_the_fit_recovers_an_engine_star(teff, logg, feh, rv):
    flux, ivar = engine_star(teff, logg, feh, rv, snr=40.0)
    fit = fit_spectra(flux, ivar)
    assert abs(fit["teff_fit"][0] - teff) < 300
    assert abs(fit["logg_fit"][0] - logg) < 0.35
    assert abs(fit["rv_fit"][0] - rv) < 25
    assert fit["chi2_fit"][0] < 2.0 and not fit["fit_edge"][0] and fit["emission_bins"][0] == 0


def test_the_fit_ranks_gravity_on_noisy_stars():
    """At SDSS-like S/N a BHB-like star fits lower log g than a dwarf of the same temperature."""
    bhb = [fit_spectra(*engine_star(8300.0, 3.1, -1.7, 50.0, 20.0, seed=s))["logg_fit"][0] for s in range(4)]
    dwarf = [fit_spectra(*engine_star(8300.0, 4.2, -0.3, 50.0, 20.0, seed=s))["logg_fit"][0] for s in range(4)]
    assert max(bhb) < min(dwarf)


def test_emission_lines_and_a_wrong_shape_are_flagged():
    flux, ivar = engine_star(8500.0, 3.5, -1.0, 0.0, snr=50.0)
    wave = 10.0 ** loglam()
    for line in (5007.0 * 1.05, 6563.0 * 1.05, 4861.0 * 1.05):  # redshifted [O III], Hα, Hβ
        flux[0] += 2.0 * np.exp(-0.5 * ((wave - line) / 2.5) ** 2)
    fit = fit_spectra(flux, ivar)
    cols = {**fit, "valid_fraction": np.ones(1)}
    words = flags(cols, None)[0].split(";")
    assert "ood:emission" in words and is_ood(np.array([";".join(words)]))[0]


def test_flags_name_each_reason_and_say_it_in_words():
    cols = {"chi2_fit": np.array([1.0, 4.0, 1.0, 1.0]), "emission_bins": np.array([0, 0, 5, 0]),
            "rv_fit": np.array([10.0, 0.0, 0.0, -999.0]), "fit_edge": np.array([False, False, False, True]),
            "embedding_distance": np.array([0.5, np.nan, 2.0, 0.1]),
            "valid_fraction": np.array([1.0, 0.4, 0.95, 1.0]),
            "balmer_ok": np.array([True, False, True, True]),
            "balmer_reason": np.array(["", "Hδ: line not detected above the noise", "", ""])}
    sky = TrainingSky({"g": (14.0, 20.0), "snr": (5.0, 60.0), "u_g": (0.8, 1.35), "g_r": (-0.4, 0.1)}, True, 100)
    quantities = {"g": np.array([18.0, 21.0, 18.0, 18.0]), "snr": np.array([200.0, 2.0, 20.0, 20.0]),
                  "u_g": np.array([1.0, 1.0, 2.0, 1.0]), "g_r": np.array([0.0, 0.0, 0.0, 0.0])}
    out = flags(cols, sky, quantities)
    assert out[0] == ""  # a cleaner spectrum than any training star's is no reason for doubt
    assert out[1].split(";") == ["ood:poor-fit", "sky:g", "sky:snr", "gappy:0.60", "balmer:no-line"]
    assert out[2].split(";") == ["ood:emission", "ood:embedding", "sky:colour"]
    assert out[3].split(";") == ["ood:velocity", "ood:grid-edge"]
    assert list(is_ood(out)) == [False, True, True, True]
    assert not is_ood(np.array(["gappy:0.30;balmer:no-line"]))[0]  # quality flags are not out of distribution
    words = explain(out[1])
    assert words[0].startswith("no star template fits it") and "60% of the spectrum's pixels are missing" in words


def test_training_ranges_and_the_record_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    ranges = training_ranges({"g": rng.uniform(15, 20, 5000), "few": np.ones(3)})
    assert set(ranges) == {"g"} and 14.4 < ranges["g"][0] < 14.6 and 20.4 < ranges["g"][1] < 20.6
    TrainingSky(ranges, True, 5000, "test").save(tmp_path)
    assert TrainingSky.load(tmp_path) == TrainingSky(ranges, True, 5000, "test")
    assert TrainingSky.load(tmp_path / "nowhere") is None  # an older checkpoint: no record


def test_a_zero_filled_gap_without_errors_is_gappy_and_the_balmer_lines_still_fit(tmp_path):
    """The issue's made-up 1-D FITS: 60 % of the window zero-filled, no error array."""
    engine = default_engine()
    wave = np.arange(3600.0, 9400.0, 1.0)
    flux = np.interp(np.log10(wave), engine.loglam, engine.flux(8500.0, 3.2, -1.5)[0], right=1.0) * 1e-13
    flux *= 1.0 + np.random.default_rng(1).normal(0.0, 0.01, flux.size)
    lo = 10.0 ** (np.log10(4000.0) + 0.4 * np.log10(9000.0 / 4000.0))  # keep the window's first 40 % (in log λ)
    flux[wave > lo] = 0.0
    path = tmp_path / "gappy.fits"
    hdr = fits.Header({"CRVAL1": 3600.0, "CDELT1": 1.0, "CRPIX1": 1.0, "CTYPE1": "WAVE", "CUNIT1": "Angstrom"})
    fits.PrimaryHDU(flux.astype(np.float32), header=hdr).writeto(path)
    spectrum = read_spectra(path, partial=True).spectra[0]
    assert spectrum.meta["valid_fraction"] == pytest.approx(0.4, abs=0.02)
    balmer = measure_arrays(spectrum.flux[None], spectrum.ivar[None])
    assert balmer["balmer_ok"][0] and np.isfinite(balmer["d02"][0])  # Hδ and Hγ lie in what is left
    fit, _ = measure(spectrum.flux[None], spectrum.ivar[None], None)
    cols = {**fit, **{k: balmer[k] for k in ("balmer_ok", "balmer_reason")}}
    words = flags(cols, None)[0].split(";")
    assert "gappy:0.60" in words and np.isfinite(fit["logg_fit"][0])
