import json

import numpy as np
import pytest

from bhb_viewer.core.grid import NPIX
from bhb_viewer.core.spectra import fill_masked
from bhb_viewer.ml.preprocess import Preprocessor, fit_band_stats, scale_cubes


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
    pre = Preprocessor(mean, std, cutout_size=8)
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
