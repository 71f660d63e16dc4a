"""Measured importance over the cutout (issue 21): occluding what a scorer rests on moves P(BHB), the rest does not."""

import numpy as np
import pytest

from bhb_viewer.core.grid import NPIX
from bhb_viewer.ml.importance import PATCH, band_background, occlusion_map, occlusion_rows

S = 64


def stamps(n: int, at: list[tuple[float, float]], seed: int = 0) -> np.ndarray:
    """n 5-band stamps of noisy sky (level 1, σ 0.05) with a bright star (peak 50) centred at ``at[i]``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:S, :S]
    cubes = 1.0 + rng.normal(0, 0.05, (n, 5, S, S))
    for i, (y, x) in enumerate(at):
        cubes[i] += 50.0 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.5**2))
    return cubes.astype(np.float32)


def centre_scorer(calls: list[int]):
    """P(BHB) that rests on the r-band flux in the central 16×16 pixels above the sky: all of a star's
    (≈ 707) there is a BHB, three quarters of it is not."""

    def score(flux, ivar, cutouts):
        calls.append(len(cutouts))
        excess = cutouts[:, 2, 24:40, 24:40].astype(np.float64).sum(axis=(1, 2)) - 256.0
        return 1.0 / (1.0 + np.exp(-(excess - 600.0) / 30.0))

    return score


def test_occluding_the_star_moves_p_more_than_a_corner_in_one_call():
    calls: list[int] = []
    flux, ivar = np.ones((2, NPIX)), np.ones((2, NPIX))
    # a star at the centre (where four patches meet); a star in the corner, off the scorer's region
    cubes = stamps(2, [(31.5, 31.5), (4, 4)])
    base = centre_scorer([])(flux, ivar, cubes)
    assert base[0] > 0.95 and base[1] < 0.01
    imp = occlusion_map(centre_scorer(calls), flux, ivar, cubes, np.random.default_rng(0))
    # one batch, each star's block
    assert calls == [2 * occlusion_rows(S)] and occlusion_rows(S) == 1 + (S // PATCH) ** 2
    assert imp.shape == (2, S // PATCH, S // PATCH)
    centre = imp[0, 3:5, 3:5]  # the four patches that meet at the star
    assert centre.min() > 0.5  # hiding any quarter of the star drops P(BHB) from ~1 by more than a half
    assert np.abs(imp[0, 0, 0]) < 1e-3 and np.abs(np.delete(imp[0].ravel(), [27, 28, 35, 36])).max() < 0.02
    # the corner star moves nothing: the scorer never looks there
    assert np.abs(imp[1]).max() < 0.02 and imp[0].sum() > 10 * np.abs(imp[1]).sum()


def test_the_background_is_the_border_level_and_scatter():
    cubes = stamps(1, [(32, 32)])
    bg = band_background(cubes, np.random.default_rng(1))
    assert bg.shape == cubes.shape
    assert bg.mean() == pytest.approx(1.0, abs=0.005) and bg.std() == pytest.approx(0.05, rel=0.1)
    assert bg[0, 2, 28:36, 28:36].max() < 1.5  # the star is gone from its own background
