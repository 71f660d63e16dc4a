"""The simulated sky's labels, leak-freedom and instrument figures (issue 9)."""

import numpy as np
import pytest

from bhb_viewer.core.grid import wavelength
from bhb_viewer.core.science.balmer import measure_arrays, passes_cuts
from bhb_viewer.core.sim import SimulatorConfig, simulate
from bhb_viewer.core.sim.labels import median_snr
from bhb_viewer.core.sim.realism import REAL_FIGURES, fm_window_robustness, realism_figures
from bhb_viewer.core.sim.sky import MAP_EBV_SCATTER


@pytest.fixture(scope="module")
def sky():
    return simulate(600, seed=31, config=SimulatorConfig(label_kind="physical"))


def test_label_choice_picks_the_column_and_keeps_both_in_the_truth(sky):
    truth = sky.truth
    assert np.array_equal(sky.catalog["label"], truth["label_physical"])
    default = simulate(600, seed=31, with_cutouts=False)
    assert np.array_equal(default.catalog["label"], truth["label_physical"])
    xue = simulate(600, seed=31, with_cutouts=False, config=SimulatorConfig(label_kind="xue")).catalog
    assert np.array_equal(xue["label"], truth["label_xue"])
    # the cut label is the Xue 2011 cuts on the independent measurement, never a failed true fit
    again = passes_cuts(truth["d02_xue"], truth["fm_xue"], truth["b_hg_xue"], truth["c_hg_xue"])
    assert np.all(truth["label_xue"][~again] == 0)
    agree = np.mean(truth["label_xue"] == truth["label_physical"])
    assert 0.75 < agree < 0.95  # mostly the same stars, not all


def test_cut_labels_are_not_the_classical_fit_of_the_same_spectrum(sky):
    measured = measure_arrays(sky.spectra, sky.ivar)
    classical = measured["classical_bhb"].astype(int)
    truth = sky.truth
    # the measurement errors are independent draws: the app's own cuts disagree with the labels for some stars
    assert 0.75 < np.mean(classical == truth["label_xue"]) < 0.97
    resid = np.asarray(truth["d02_xue"]) - measured["d02"]
    ok = np.isfinite(resid)
    assert np.corrcoef(resid[ok], np.asarray(truth["d02_xue"])[ok] - np.asarray(truth["d02_true"])[ok])[0, 1] > 0.3


def test_nuisance_columns_carry_no_class_beyond_the_photometry(sky):
    """Magnitude errors, seeing, sky, S/N and ivar statistics, each with the part explained by the
    observed magnitudes removed (real errors track magnitude, hence colour), must not tell the
    classes apart: cross-validated AUC ≤ 0.6."""
    sklearn = pytest.importorskip("sklearn")
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert sklearn
    cat, ivar = sky.catalog, sky.ivar
    positive = np.where(ivar > 0, ivar, np.nan)
    nuisance = np.column_stack(
        [np.log(cat[f"{b}_err"]) for b in "ugriz"]
        + [cat["seeing_r"], cat["sky_offset"], np.log(median_snr(sky.spectra, ivar)),
           np.log(np.nanmedian(positive, axis=1)), (ivar <= 0).mean(axis=1)]
    )
    mags = np.column_stack([cat[b] for b in "ugriz"])
    residual = nuisance - LinearRegression().fit(mags, nuisance).predict(mags)
    y = np.asarray(cat["label"])
    p = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), residual, y, cv=5,
                          method="predict_proba")[:, 1]
    assert roc_auc_score(y, p) <= 0.6


def test_ivar_near_hdelta_says_no_more_than_the_flux(sky):
    """The leak the audit found: ivar from the noise-free model told the line depth better than the flux."""
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    wave = wavelength()
    sel = (wave > 4060) & (wave < 4145)
    good = sky.ivar[:, sel] > 0
    side = (wave > 4150) & (wave < 4250)
    level = np.nanmedian(np.where(sky.ivar[:, side] > 0, sky.spectra[:, side], np.nan), axis=1, keepdims=True)
    flux = sky.spectra[:, sel] / level
    inv = np.where(good, 1.0 / np.maximum(sky.ivar[:, sel], 1e-30), 0.0)
    inv = inv / np.median(inv[good]) if good.any() else inv
    y = np.asarray(sky.catalog["label"])

    def auc(x):
        p = cross_val_predict(
            LogisticRegression(max_iter=2000, C=0.1), np.where(good, x, 0.0), y, cv=5, method="predict_proba"
        )[:, 1]
        return roc_auc_score(y, p)

    assert auc(inv) <= auc(flux) + 0.01


def test_realism_figures_sit_in_the_real_ranges(sky):
    fig = realism_figures(sky.catalog, sky.spectra, sky.ivar, sky.cutouts)
    assert set(REAL_FIGURES) <= set(fig)
    sim = {k: v["simulated"] for k, v in fig.items()}
    assert 15 < sim["snr2_at_gfib_20_2"] < 40  # real 24.9–25.5; a 600-star fit is noisy
    assert sim["snr_by_g"]["16-17"] > 20 and sim["snr_by_g"]["19-19.5"] < 10
    rms = sim["calibration_rms_mag"]
    assert 0.04 < rms["g"] < 0.1 and 0.07 < rms["r"] < 0.13 and 0.1 < rms["i"] < 0.18
    assert 0.93 <= sim["resolution_sigma_px"]["hdelta"] <= 1.16 and 0.69 <= sim["resolution_sigma_px"]["8500"] <= 0.76
    assert 0.014 <= sim["mask_fraction"]["mean"] <= 0.056
    assert 8 < sim["sky_residual_5577"] < 35
    assert 1.15 < sim["psf_fwhm_ratio_u_r"] < 1.4
    assert 0.09 < sim["ebv_max"] < 0.1 * (1 + 5 * MAP_EBV_SCATTER)  # the map's values scatter around the true ≤ 0.1


def test_bright_stars_saturate_with_a_flat_core_and_bleed():
    from bhb_viewer.core.sim.images import NMGY_PER_COUNT, SATURATION_COUNTS, ImageModel, render_cutouts

    rng = np.random.default_rng(0)
    mags = {b: np.array([12.5, 18.0]) for b in "ugriz"}
    cut = render_cutouts(ImageModel(neighbours_per_stamp=0.0), rng, mags, np.array([1.2, 1.2]), np.zeros(2), 64)
    level = SATURATION_COUNTS * NMGY_PER_COUNT["g"]
    g = cut[0, 1]
    assert g.max() == pytest.approx(level, rel=1e-5)
    flat = np.argwhere(g >= level * 0.999)
    assert np.ptp(flat[:, 0]) > np.ptp(flat[:, 1])  # the bleed runs along the column
    assert cut[1, 1].max() < 0.2 * level


def test_fm_window_robustness_reports_every_window(sky):
    select = np.asarray(sky.truth["label_physical"]) == 1
    out = fm_window_robustness(sky.spectra, sky.ivar, select)
    assert set(out["windows"]) == {"40", "55", "70", "100"} and out["windows"]["70"]["fm"]["median_shift"] == 0.0
    for entry in out["windows"].values():
        assert 0.1 < entry["fm"]["median"] < 0.4 and 15 < entry["d02"]["median"] < 35


def test_dereddening_switch_corrects_catalogue_and_spectra():
    raw = simulate(30, seed=4, with_cutouts=False)
    fixed = simulate(30, seed=4, with_cutouts=False, config=SimulatorConfig(extinction_corrected=True))
    from bhb_viewer.core.sim.spectra import BAND_EXTINCTION

    diff = np.asarray(raw.catalog["g"]) - np.asarray(fixed.catalog["g"])
    assert np.allclose(diff, BAND_EXTINCTION["g"] * np.asarray(raw.truth["ebv"]))  # the idealised sky removes the truth
    wave = wavelength()
    blue = (wave > 4200) & (wave < 4300) & (raw.ivar[0] > 0)
    assert np.median(fixed.spectra[0, blue] / raw.spectra[0, blue]) > 1.0


def test_workers_give_the_same_sky():
    one = simulate(300, seed=8, with_cutouts=False)
    two = simulate(300, seed=8, with_cutouts=False, workers=2)
    assert np.array_equal(one.spectra, two.spectra) and np.array_equal(one.ivar, two.ivar)
    assert np.array_equal(one.truth["label_xue"], two.truth["label_xue"])
