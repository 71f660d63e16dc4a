"""Table 8 evaluation: summaries over seeds, the table layout, files and plots, reuse of finished runs."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from bhb_viewer.ml.evaluation import CLASSICAL, evaluate_models, format_table8, summarize


def _report(p, r, f1, auc=0.9):
    row = {"precision": p, "recall": r, "f1": f1}
    return {"BHB": row, "non-BHB": row, "macro": row, "auc": auc}


def test_summary_is_mean_and_sample_std_over_seeds():
    s = summarize([_report(0.9, 0.8, 0.85), _report(0.7, 0.6, 0.65)])
    assert s["macro_precision"]["mean"] == pytest.approx(0.8)
    assert s["macro_f1"]["std"] == pytest.approx(np.std([0.85, 0.65], ddof=1))
    assert s["n_seeds"] == 2 and s["auc"]["mean"] == pytest.approx(0.9)


def test_table8_layout():
    results = {"seeds": [0, 1], "size": "lite", "dataset": "d",
               "models": {"svm": {"summary": summarize([_report(0.9, 0.8, 0.85), _report(0.7, 0.6, 0.65)])}}}
    text = format_table8(results)
    header, row = text.splitlines()[:2]
    assert header.split()[:2] == ["Input", "Model"] and "F1 (%)" in header
    assert "Spectrum-only" in row and "SVM" in row and "80.00 ± 14.14" in row and "75.00 ± 14.14" in row


def test_evaluate_classical_and_svm_over_two_seeds(tmp_path):
    pytest.importorskip("sklearn")
    from bhb_viewer.core.sim import write_simulated

    data = write_simulated(tmp_path / "sim", n=80, seed=2, cutout_size=16)
    out = tmp_path / "eval"
    results = evaluate_models([CLASSICAL, "svm"], data, seeds=2, out=out)
    assert list(results["models"]) == [CLASSICAL, "svm"]
    for entry in results["models"].values():
        assert entry["summary"]["n_seeds"] == 2 and len(entry["per_seed"]) == 2
        cm = np.array(entry["per_seed"][0]["confusion_matrix"])
        assert cm.sum() == 8  # the 10 % test split of 80 stars
    assert (out / "table8.csv").read_text().splitlines()[0].startswith("model,input,label,n_seeds,macro_precision_mean")
    assert json.loads((out / "table8.json").read_text())["seeds"] == [0, 1]
    if importlib.util.find_spec("matplotlib") is not None:  # plots are optional (baselines extra)
        assert {p.split("/")[-1] for p in results["plots"]} == {"roc.png", "pr.png"}
        assert (out / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second call reuses the finished runs instead of training again
    stamp = (out / "runs" / "svm-seed0" / "test.json").stat().st_mtime_ns
    evaluate_models(["svm"], data, seeds=1, out=out)
    assert (out / "runs" / "svm-seed0" / "test.json").stat().st_mtime_ns == stamp
