"""The small-set comparison: intervals from a paired stratified bootstrap, and "better" only without overlap."""

from __future__ import annotations

import numpy as np

from bhb_viewer.core.science.small_compare import compare


def test_seven_test_stars_never_make_a_new_model_better():
    # 76 verdicts leave 7 test stars: a perfect active model against a degenerate new one (every 0.30)
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    active = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.05])
    degenerate = np.array([0.301, 0.299, 0.305, 0.300, 0.302, 0.303, 0.298])
    c = compare(labels, degenerate, active)
    assert not c.better and c.active_auc.value == 1.0 and c.new_f1.value < 0.5
    assert "not shown to be better" in c.reason and "7 test stars" in c.reason
    # even a perfect new model is not "better" than a perfect active one on so few stars
    assert not compare(labels, active, active).better


def test_a_clearly_better_model_on_enough_stars_is_better_and_says_so():
    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(150, int), np.zeros(250, int)]
    good = np.clip(0.5 * labels + rng.normal(0.25, 0.2, 400), 0, 1)
    poor = np.clip(0.2 * labels + rng.normal(0.4, 0.2, 400), 0, 1)
    c = compare(labels, good, poor, n_boot=300)
    assert c.better and c.new_auc.low > c.active_auc.high and "lies above" in c.reason
    assert c.new_auc.low <= c.new_auc.value + 1e-9 and c.new_auc.value <= c.new_auc.high + 1e-9 < 1
    assert not compare(labels, poor, good, n_boot=300).better


def test_one_class_test_stars_cannot_decide():
    c = compare(np.zeros(5, int), np.full(5, 0.2), np.full(5, 0.1))
    assert not c.better and "only one class" in c.reason
