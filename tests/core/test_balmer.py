import numpy as np
import pytest

from bhb_viewer.core.grid import NPIX, wavelength
from bhb_viewer.core.science import balmer

C = 299_792.458


def sersic_spectrum(a, b, c, rv=0.0, snr=None, seed=0, a_hd=None, b_hd=None, c_hd=None):
    """A sloped continuum with Sersic Hδ and Hγ lines shifted by rv; optional Gaussian noise."""
    wave = wavelength()
    flux = 80.0 * (wave / 4500.0) ** -2.0
    for rest, (aa, bb, cc) in ((balmer.HDELTA, (a_hd or a, b_hd or b, c_hd or c)), (balmer.HGAMMA, (a, b, c))):
        centre = rest * (1 + rv / C)
        flux = flux * (1 - aa * np.exp(-((np.abs(wave - centre) / bb) ** cc)))
    if snr is None:
        return flux, np.full(NPIX, 1e6)
    sigma = flux / snr
    rng = np.random.default_rng(seed)
    return flux + sigma * rng.standard_normal(NPIX), 1 / sigma**2


def test_recovers_known_profile_and_velocity():
    flux, ivar = sersic_spectrum(0.78, 9.4, 0.98, rv=-250.0)
    r = balmer.measure(flux, ivar)
    assert r.ok and r.reason == ""
    assert r.b_hg == pytest.approx(9.4, abs=0.05)
    assert r.c_hg == pytest.approx(0.98, abs=0.01)
    assert r.fm == pytest.approx(0.22, abs=0.005)
    assert r.d02 == pytest.approx(2 * 9.4 * np.log(0.78 / 0.2) ** (1 / 0.98), abs=0.2)
    assert r.rv == pytest.approx(-250.0, abs=5.0)
    assert r.hgamma.centre == pytest.approx(balmer.HGAMMA * (1 - 250.0 / C), abs=0.05)
    assert r.classical_bhb
    # the fitted model is drawable and matches the data near the line
    wave = wavelength()
    near = np.abs(wave - balmer.HGAMMA) < 30
    assert np.allclose(r.profile(wave[near]), flux[near], rtol=0.01)


def test_broad_lines_fail_the_cuts_with_values():
    flux, ivar = sersic_spectrum(0.75, 13.5, 1.0, rv=120.0)
    r = balmer.measure(flux, ivar)
    assert r.ok
    assert r.d02 > 29 and r.b_hg > 12
    assert not r.classical_bhb


def test_noisy_spectra_scatter_but_stay_unbiased():
    flux = []
    ivar = []
    for seed in range(40):
        f, i = sersic_spectrum(0.78, 9.4, 0.98, rv=50.0, snr=25, seed=seed)
        flux.append(f)
        ivar.append(i)
    t = balmer.measure_many(np.array(flux), np.array(ivar))
    assert t["balmer_ok"].all()
    assert np.median(t["b_hg"]) == pytest.approx(9.4, abs=0.3)
    assert np.median(t["c_hg"]) == pytest.approx(0.98, abs=0.05)
    assert 0.02 < np.std(t["c_hg"]) < 0.2  # measurement noise shows


def test_no_line_is_a_failure_not_a_number():
    wave = wavelength()
    flux = 50.0 * (wave / 4500.0) ** -2.0
    rng = np.random.default_rng(1)
    flux = flux + rng.normal(0, 1.0, NPIX)
    r = balmer.measure(flux, np.ones(NPIX))
    assert not r.ok and not r.classical_bhb
    assert np.isnan(r.d02) and np.isnan(r.b_hg)
    assert "not detected" in r.reason or "bound" in r.reason


def test_masked_window_reports_why():
    flux, ivar = sersic_spectrum(0.78, 9.4, 0.98)
    ivar = ivar.copy()
    ivar[np.abs(wavelength() - balmer.HDELTA) < 60] = 0
    r = balmer.measure(flux, ivar)
    assert not r.ok and np.isnan(r.d02) and np.isnan(r.fm)
    assert "Hδ: too few valid pixels" in r.reason
    assert r.hgamma.ok and np.isfinite(r.c_hg)  # the other line still measured
    assert not r.hdelta.ok


def test_passes_cuts_follows_the_readme():
    d02 = np.array([25, 30, 25, 25, 25, 25, np.nan])
    fm = np.array([0.23, 0.23, 0.4, 0.23, 0.23, 0.23, 0.23])
    c = np.array([1.0, 1.0, 1.0, 0.7, 1.0, 0.8, 1.0])
    b = np.array([9.0, 9.0, 9.0, 9.0, 10.7, 9.0, 9.0])
    # c = 0.8: b ≤ 10.8 − 26.5·0.28² = 8.72, so b = 9 fails; c = 1.0: b ≤ 10.63, so 10.7 fails
    assert balmer.passes_cuts(d02, fm, b, c).tolist() == [True, False, False, False, False, False, False]


def test_measure_many_table_columns_and_throughput_shape():
    rows = [sersic_spectrum(0.78, 9.0 + 0.1 * k, 1.0, rv=10.0 * k) for k in range(5)]
    flux = np.array([r[0] for r in rows])
    ivar = np.array([r[1] for r in rows])
    flux[4] = np.nan  # a broken spectrum
    t = balmer.measure_many(flux, ivar)
    for col in ("d02", "fm", "b_hg", "c_hg", "balmer_ok", "classical_bhb", "balmer_reason", "rv"):
        assert col in t.colnames
    assert len(t) == 5
    assert t["balmer_ok"].tolist() == [True] * 4 + [False]
    assert np.allclose(t["b_hg"][:4], 9.0 + 0.1 * np.arange(4), atol=0.05)
    assert t["classical_bhb"][:4].all()


def test_off_grid_input_is_refused_and_empty_input_is_fine():
    with pytest.raises(ValueError, match="3522"):
        balmer.measure(np.ones(100), np.ones(100))
    t = balmer.measure_many(np.zeros((0, NPIX)), np.zeros((0, NPIX)))
    assert len(t) == 0 and "classical_bhb" in t.colnames
