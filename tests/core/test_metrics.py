import numpy as np
import pytest

from bhb_viewer.core.science import metrics


def test_report_matches_hand_counts():
    y = [1, 1, 1, 0, 0, 0, 0]
    p = [1, 1, 0, 0, 0, 1, 0]
    cm = metrics.confusion_matrix(y, p)
    assert cm.tolist() == [[3, 1], [1, 2]]
    r = metrics.classification_report(y, p)
    assert r["BHB"]["precision"] == pytest.approx(2 / 3)
    assert r["BHB"]["recall"] == pytest.approx(2 / 3)
    assert r["non-BHB"]["precision"] == pytest.approx(3 / 4)
    assert r["non-BHB"]["recall"] == pytest.approx(3 / 4)
    assert r["macro"]["f1"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert r["accuracy"]["value"] == pytest.approx(5 / 7)


def test_curves_on_perfect_and_tied_scores():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    fpr, tpr, thr = metrics.roc_curve(y, s)
    assert metrics.auc(fpr, tpr) == pytest.approx(0.75)
    prec, rec, thr = metrics.precision_recall_curve(y, s)
    assert thr.tolist() == [0.8, 0.4, 0.35, 0.1]
    assert prec.tolist() == pytest.approx([1.0, 0.5, 2 / 3, 0.5])
    assert rec.tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])
    # ties collapse into one threshold
    prec, rec, thr = metrics.precision_recall_curve([1, 0, 1], [0.5, 0.5, 0.2])
    assert thr.tolist() == [0.5, 0.2] and prec.tolist() == pytest.approx([0.5, 2 / 3])


def test_purity_completeness_agrees_with_pr_curve():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    s = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    prec, rec, thr = metrics.precision_recall_curve(y, s)
    for i in (0, 50, 200, len(thr) - 1):
        purity, completeness, _n = metrics.purity_completeness_at(y, s, thr[i])
        assert purity == pytest.approx(prec[i]) and completeness == pytest.approx(rec[i])
    assert metrics.purity_completeness_at(y, s, 2.0) == (0.0, 0.0, 0)
