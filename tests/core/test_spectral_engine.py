"""The empirical (MILES) spectral engine, synthetic photometry, and the sky built on them."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bhb_viewer.core.grid import wavelength
from bhb_viewer.core.resources import ROOT
from bhb_viewer.core.science.photometry import AB_TO_SDSS, ab_magnitudes, coverage, synthesize
from bhb_viewer.core.science.spectral_engine import (
    ENGINE_DIR,
    HOLDOUT_FILE,
    HOLDOUT_SPECTRA_FILE,
    air_to_vacuum,
    balmer_jump,
    default_engine,
    resample_log,
    sed_loglam,
)
from bhb_viewer.core.sim import SimulatorConfig, simulate

ENGINE = ROOT / ENGINE_DIR


def _holdout() -> list[dict]:
    with open(ENGINE / HOLDOUT_FILE) as fh:
        return list(csv.DictReader(fh))


def test_holdout_is_out_of_the_fit_and_names_stars_as_miles_does():
    rows = _holdout()
    engine = default_engine()
    assert len(rows) == 91 and not {r["miles_id"] for r in rows} & set(engine.ids)
    assert {"HD002857", "HD161817", "HD086986"} <= {r["name"] for r in rows}  # classic field HB stars, also in STELIB
    assert sum(r["group"] == "hb_like" for r in rows) >= 5 and sum(r["group"] == "dwarf" for r in rows) >= 5
    assert all(r["reason"] in ("also in STELIB", "seeded draw") for r in rows)
    report = json.loads((ENGINE / "fit_report.json").read_text())
    assert report["n_fitted"] == len(engine.ids) and report["sha256"]["miles_engine.npz"] == engine.sha256


def test_engine_reproduces_held_out_real_stars():
    """Each held-out MILES star against the engine at its own parameters: a few per cent, not tens."""
    engine = default_engine()
    rows = {r["miles_id"]: r for r in _holdout()}
    with np.load(ENGINE / HOLDOUT_SPECTRA_FILE) as z:
        ids, wave_air, flux = list(z["ids"]), z["wave_air"], z["flux"]
    ll = np.log10(air_to_vacuum(wave_air))
    errs, bj_err = [], {"hb_like": [], "dwarf": []}
    for i, mid in enumerate(ids):
        r = rows[mid]
        real = resample_log(ll, flux[i], engine.loglam)
        model = engine.flux(float(r["teff"]), float(r["logg"]), float(r["feh"]))[0]
        ok = np.isfinite(real)
        ratio = real[ok] / model[ok]
        errs.append(np.std(np.log(ratio / np.median(ratio))))
        if r["group"] in bj_err:
            bj_err[r["group"]].append(balmer_jump(engine.loglam, model) - balmer_jump(engine.loglam, real))
    assert np.median(errs) < 0.06
    assert np.sqrt(np.mean(np.square(bj_err["dwarf"]))) < 0.15
    # thin data: reported in bhb_viewer/resources/engine/README.md
    assert np.sqrt(np.mean(np.square(bj_err["hb_like"]))) < 0.25


def test_gravity_deepens_the_balmer_jump_at_fixed_temperature():
    engine = default_engine()
    for teff in (7500.0, 8500.0, 9500.0):
        hb = balmer_jump(engine.loglam, engine.flux(teff, 3.1, -1.8))[0]
        dwarf = balmer_jump(engine.loglam, engine.flux(teff, 4.2, -1.8))[0]
        assert hb - dwarf > 0.1


def test_sed_extensions_join_the_engine_smoothly():
    engine = default_engine()
    sed = engine.sed(8000.0, 3.2, -1.5)[0]
    wave = 10.0 ** sed_loglam()
    assert np.all(np.isfinite(sed)) and np.all(sed > 0)
    for edge in (3548.0, 7300.0, 7404.0):
        i = np.searchsorted(wave, edge)
        assert abs(np.log(sed[i + 3] / sed[i - 3])) < 0.05
    assert engine.coverage(8000.0, 4.1, -0.3)[0] < 1.0 and engine.coverage(8000.0, 1.0, -3.0)[0] > 1.0


def test_photometry_zero_point_and_coverage_rule():
    wave = np.linspace(2900.0, 11300.0, 20_000)
    flat = 3631e-23 * 2.99792458e18 / wave**2 / 1e-17  # 0 mag AB at every wavelength
    assert all(abs(v[0]) < 1e-9 for v in ab_magnitudes(wave, flat).values())
    grid = wavelength()
    assert coverage(grid, "r") == 1.0 and coverage(grid, "u") < 0.05 and 0.97 < coverage(grid, "g") < 1.0
    f_grid = np.interp(grid, wave, flat)
    mags, errs = synthesize(grid, f_grid)
    assert np.isnan(mags[[0, 4]]).all()  # u and z: the SDSS grid holds too little of them
    assert np.allclose(mags[1:4], [AB_TO_SDSS[b] for b in "gri"], atol=0.03) and np.all(errs[1:4] < 0.03)


@pytest.fixture(scope="module")
def sky():
    return simulate(1500, seed=21, with_cutouts=False)


def test_empirical_sky_u_minus_g_carries_gravity(sky):
    """At the same g−r, BHB stars are redder in u−g than the high-gravity stars: the Balmer jump."""
    cat, truth = sky.catalog, sky.truth
    bhb = np.asarray(truth["label_physical"]) == 1
    gr, ug = np.asarray(cat["g_r"]), np.asarray(cat["u_g"])
    high_g = np.asarray(truth["logg"]) >= 3.8
    diffs = []
    for lo in (-0.3, -0.2):
        sel = (gr > lo) & (gr < lo + 0.1)
        diffs.append(np.median(ug[sel & bhb]) - np.median(ug[sel & high_g]))
    assert min(diffs) > 0.02 and np.mean(diffs) > 0.03
    assert set(np.unique(truth["kind"])) >= {"BHB", "blue straggler", "A dwarf", "hot star"}
    assert cat.meta["coverage_rejections"]["BHB"] > 0  # the engine is thin where BHB stars live
    assert np.all(np.isfinite(sky.spectra)) and "engine_star" in truth.colnames


# sha256 of the float32 spectra of simulator 2.0's demo set (256 stars, seed 2026, physical labels), the
# demo the app shipped until simulator 3.0: --engine parametric must keep giving exactly these arrays.
SIMULATOR_2_DEMO_SPECTRA = "61ef4f4c38a84e9c5f03ac91edd7b0a51d4c3110a77ae1429df220961b4e221d"


def test_parametric_engine_still_reproduces_simulator_2():
    import hashlib

    again = simulate(256, seed=2026, bhb_fraction=4752 / 12032, with_cutouts=False,
                     config=SimulatorConfig(engine="parametric", label_kind="physical"))
    assert (
        hashlib.sha256(np.ascontiguousarray(again.spectra, dtype=np.float32).tobytes()).hexdigest()
        == SIMULATOR_2_DEMO_SPECTRA
    )
    assert set(np.unique(again.truth["kind"])) <= {"BHB", "blue straggler", "main-sequence A"}
    with pytest.raises(ValueError, match="engine"):
        SimulatorConfig(engine="nonsense")
