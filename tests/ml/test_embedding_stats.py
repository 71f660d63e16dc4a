"""The embedding distance limit comes from stars the model never fitted, where there are any."""

import numpy as np
import pytest

from bhb_viewer.ml.embedding_stats import LIMIT_PERCENTILE, distances, fit_stats


def test_held_out_stars_set_the_limit_so_about_one_in_a_thousand_of_them_is_flagged():
    rng = np.random.default_rng(0)
    train = rng.normal(0.0, 1.0, (4000, 8))  # fitted stars sit tighter than unseen ones of the same sky
    unseen = rng.normal(0.0, 1.3, (4000, 8))
    own, held = fit_stats(train), fit_stats(train, held_out=unseen)
    np.testing.assert_array_equal(own["mean"], held["mean"])  # the mean and shape are the training stars'
    assert held["limit"][0] > own["limit"][0] * 1.2
    assert np.mean(distances(unseen, own) > 1) > 0.05  # a limit on the training stars flags unseen ones en masse
    assert np.mean(distances(unseen, held) > 1) == pytest.approx(1 - LIMIT_PERCENTILE / 100, abs=5e-4)
    assert fit_stats(train, held_out=np.zeros((0, 8)))["limit"][0] == own["limit"][0]  # none held out: as before
