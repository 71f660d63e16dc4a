"""SVM / XGBoost baselines: they learn a separable spectral feature, save without pickle, reload exactly,
and run through the same fit() as the networks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bhb_viewer.ml.baselines import SpectralBaseline, is_baseline


def _toy(n=160, d=40, seed=0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int64)
    x = rng.random((n, d)).astype(np.float32)
    x[y == 1, :5] -= 0.6  # a "Balmer line" that BHBs have deeper
    return x, y


def test_svm_matches_scikit_learn_and_reloads(tmp_path):
    svm = pytest.importorskip("sklearn.svm")
    x, y = _toy()
    model = SpectralBaseline("svm").fit(x[:120], y[:120])
    p = model.predict_proba(x[120:])
    reference = svm.SVC(kernel="rbf", gamma="scale").fit(x[:120], y[:120]).decision_function(x[120:])
    np.testing.assert_allclose(np.log(p / (1 - p)), reference, atol=1e-4)
    assert np.mean((p >= 0.5) == y[120:]) > 0.9
    files = model.save(tmp_path)
    assert files == ["baseline.json", "svm.safetensors"]
    np.testing.assert_allclose(SpectralBaseline.load(tmp_path).predict_proba(x[120:]), p)


def test_xgboost_learns_and_reloads(tmp_path):
    pytest.importorskip("xgboost")
    x, y = _toy()
    model = SpectralBaseline("xgboost", params={"n_estimators": 30, "early_stopping_rounds": 5})
    p = model.fit(x[:100], y[:100], x[100:130], y[100:130]).predict_proba(x[130:])
    assert np.mean((p >= 0.5) == y[130:]) > 0.9
    model.save(tmp_path)
    assert json.loads((tmp_path / "baseline.json").read_text())["name"] == "xgboost"
    np.testing.assert_allclose(SpectralBaseline.load(tmp_path).predict_proba(x[130:]), p, rtol=1e-6)


def test_unknown_baseline_is_refused():
    assert is_baseline("svm") and not is_baseline("batmm")
    with pytest.raises(ValueError, match="unknown baseline"):
        SpectralBaseline("random_forest")


def test_svm_through_fit_writes_the_run_files(tmp_path):
    pytest.importorskip("sklearn")
    from bhb_viewer.core.sim import write_simulated
    from bhb_viewer.ml.training import TrainConfig, fit

    data = write_simulated(tmp_path / "sim", n=60, seed=1, cutout_size=16)
    run = fit(TrainConfig(dataset=str(data), model="svm", seed=0, out=str(tmp_path / "run")))
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "baseline" and config["model"] == "svm"
    test = json.loads((run / "test.json").read_text())
    assert len(test["p_bhb"]) == len(test["label"]) == 6
    from bhb_viewer.core.science.metrics import classification_report

    expected = classification_report(test["label"], np.asarray(test["p_bhb"]) >= 0.5)["macro"]["f1"]
    assert json.loads((run / "test_metrics.json").read_text())["macro"]["f1"] == pytest.approx(expected)
