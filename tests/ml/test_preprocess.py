import json

import numpy as np
import pytest

from bhb_viewer.core.grid import NPIX
from bhb_viewer.core.readers.spectra import fill_masked
from bhb_viewer.ml.preprocess import FLUX_FLOOR, Preprocessor, aperture_flux, fit_band_stats, ratio_asinh, scale_cubes


def test_masked_pixels_are_interpolated_then_minmax_scaled():
    flux = np.tile(np.linspace(1.0, 3.0, NPIX, dtype=np.float32), (2, 1))
    ivar = np.ones_like(flux)
    flux[0, 100:110] = 1e6  # a cosmic ray the pipeline masked
    ivar[0, 100:110] = 0
    flux[1, :5] = np.nan  # an unmasked NaN counts as masked too
    out = Preprocessor(np.zeros(5), np.ones(5)).spectra(flux, ivar)
    assert out.dtype == np.float32 and out.shape == (2, NPIX)
    expected = np.linspace(0, 1, NPIX)
    np.testing.assert_allclose(out[0], expected, atol=1e-5)  # the spike is gone, the ramp is intact
    assert out[1, :5].tolist() == [0.0] * 5  # leading gap takes the nearest valid value (the minimum)
    np.testing.assert_allclose(out[1, 5:], (expected[5:] - expected[5]) / (1 - expected[5]), atol=1e-5)


def test_fill_masked_linear_and_empty_rows():
    flux = np.array([[0.0, 9.0, 9.0, 3.0], [5.0, 5.0, 5.0, 5.0]], dtype=np.float32)
    valid = np.array([[True, False, False, True], [False] * 4])
    np.testing.assert_allclose(fill_masked(flux, valid), [[0, 1, 2, 3], [0, 0, 0, 0]])


def test_cube_scaling_and_band_statistics():
    rng = np.random.default_rng(1)
    cubes = rng.normal(10, 3, size=(20, 5, 8, 8)).astype(np.float32)
    cubes[3, 2, 0, 0] = np.nan
    scaled = scale_cubes(cubes)
    assert scaled.min() == 0.0 and scaled.max() == 1.0 and np.isfinite(scaled).all()
    np.testing.assert_allclose(scaled.reshape(20, -1).max(axis=1), 1.0)
    rows = np.arange(0, 20, 2)
    mean, std = fit_band_stats(cubes, rows, chunk=3)
    np.testing.assert_allclose(mean, scaled[rows].mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, scaled[rows].std(axis=(0, 2, 3)), rtol=1e-4)
    pre = Preprocessor(mean, std, cutout_size=8, image_scale="minmax_cube")
    images = pre.images(cubes[rows])
    np.testing.assert_allclose(images.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(images.std(axis=(0, 2, 3)), 1, atol=1e-4)
    with pytest.raises(ValueError, match="cutouts must be"):
        Preprocessor(mean, std, cutout_size=64).images(cubes)


def test_config_round_trip_and_refusals():
    pre = Preprocessor(np.arange(5, dtype=np.float32), np.full(5, 2.0, np.float32), 32)
    config = json.loads(json.dumps(pre.to_config()))
    back = Preprocessor.from_config(config)
    np.testing.assert_array_equal(back.band_mean, pre.band_mean)
    assert back.cutout_size == 32
    bad_grid = {**config, "grid": {**config["grid"], "npix": 4000}}
    with pytest.raises(ValueError, match="spectral grid"):
        Preprocessor.from_config(bad_grid)
    with pytest.raises(ValueError, match="bands"):
        Preprocessor.from_config({**config, "bands": ["g", "r", "i"]})
    with pytest.raises(ValueError, match="positive"):
        Preprocessor.from_config({**config, "image": {**config["image"], "band_std": [1, 1, 0, 1, 1]}})


def _star_cubes(fluxes, colours, size=16, sigma=1.5):
    """Point sources with given r fluxes and band/r ratios on a flat zero background."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    psf = np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (2 * sigma**2))
    psf /= psf.sum()
    return np.stack([[f * c * psf for c in colours] for f in fluxes]).astype(np.float32)


def test_ratio_asinh_keeps_colour_and_divides_out_brightness():
    colours = [0.4, 0.8, 1.0, 1.1, 1.2]
    cubes = _star_cubes([100.0, 1000.0], colours)
    scaled = ratio_asinh(cubes, radius=4.0, softening=0.01)
    np.testing.assert_allclose(scaled[0], scaled[1], rtol=1e-5)  # same colours, 10× the flux: same input
    # band ratios are recoverable exactly: sinh(y)·softening = pixel / r-aperture flux
    ratio = np.sinh(scaled[0]) * 0.01
    centre = (slice(None), 8, 8)
    np.testing.assert_allclose(ratio[centre] / ratio[2, 8, 8], colours, rtol=1e-4)
    bluer = ratio_asinh(_star_cubes([100.0], [0.2, 0.8, 1.0, 1.1, 1.2]))
    assert bluer[0, 0, 8, 8] < scaled[0, 0, 8, 8]  # a u-faint star looks u-faint, whatever the other bands do
    # a target with no r flux is divided by the floor, not by ~0
    empty = np.zeros((1, 5, 16, 16), np.float32)
    assert np.isfinite(ratio_asinh(empty)).all() and aperture_flux(empty)[0] == 0 < FLUX_FLOOR


def test_version_1_configs_keep_their_own_scaling(tmp_path):
    old = Preprocessor(np.zeros(5), np.ones(5), 8, image_scale="minmax_cube").to_config()
    old = {
        **old,
        "version": 1,
        "image": {k: v for k, v in old["image"].items() if k in ("scale", "band_mean", "band_std")},
    }
    back = Preprocessor.from_config(json.loads(json.dumps(old)))
    assert back.image_scale == "minmax_cube"
    new = Preprocessor.from_config(Preprocessor(np.zeros(5), np.ones(5), 8).to_config())
    assert new.image_scale == "ratio_asinh" and new.to_config()["image"]["reference_band"] == "r"
    with pytest.raises(ValueError, match="version"):
        Preprocessor.from_config({**old, "version": 9})


def test_shipped_checkpoint_loads_with_its_own_scaling():
    from pathlib import Path

    from bhb_viewer.ml.checkpoint import load_preprocessor, read_config

    shipped_model_dir = Path(__file__).resolve().parents[2] / "models" / "batmm-lite-sim"
    config = read_config(shipped_model_dir)
    if config["preprocess"]["version"] == 1:
        assert load_preprocessor(config, shipped_model_dir).image_scale == "minmax_cube"
    else:
        assert load_preprocessor(config, shipped_model_dir).image_scale == config["preprocess"]["image"]["scale"]
