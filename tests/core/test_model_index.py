"""The model index behind the Models menu, the wizard and ``bhb models --json``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bhb_viewer.cli import main
from bhb_viewer.core.training.model_index import SHIPPED_DIR, ModelIndex, describe

SHIPPED = SHIPPED_DIR / "batmm-lite-sim"


def _copy_model(dest: Path, created: str, f1: float) -> Path:
    shutil.copytree(SHIPPED, dest)
    config = json.loads((dest / "config.json").read_text())
    config["created"] = created
    config["metrics"]["test"]["macro"]["f1"] = f1
    (dest / "config.json").write_text(json.dumps(config))
    return dest


def test_describe_shipped_model():
    e = describe(SHIPPED, "shipped")
    assert (e.model, e.size, e.kind) == ("batmm", "lite", "network")
    from bhb_viewer.ml.checkpoint import model_version

    config = json.loads((SHIPPED / "config.json").read_text())
    assert e.version == model_version(config) and e.version.startswith("batmm-lite@")  # the identity scores carry
    assert len(e.dataset_hash) == 64 and e.created.startswith("2026-")
    assert e.metrics["f1"] == pytest.approx(config["metrics"]["test"]["macro"]["f1"]) and 0.9 < e.metrics["auc"] < 1
    assert not e.problem


def test_index_lists_shipped_trained_recent_and_active(tmp_path):
    index = ModelIndex(tmp_path / "data")
    old = _copy_model(index.trained_dir / "old", "2026-01-01T00:00:00+00:00", 0.5)
    new = _copy_model(index.trained_dir / "new", "2026-06-01T00:00:00+00:00", 0.7)
    (index.trained_dir / "not-a-model").mkdir()
    elsewhere = _copy_model(tmp_path / "elsewhere", "2026-03-01T00:00:00+00:00", 0.6)
    assert index.active() is None
    index.remember(elsewhere)
    index.set_active(new)
    entries = index.entries()
    assert [(e.label, e.origin) for e in entries] == [
        ("batmm-lite-sim", "shipped"), ("new", "trained"), ("old", "trained"), ("elsewhere", "recent")]
    assert [e.active for e in entries] == [False, True, False, False]
    assert index.active().path == str(new.resolve()) and index.active().metrics["f1"] == 0.7
    shutil.rmtree(elsewhere)
    gone = [e for e in ModelIndex(tmp_path / "data").entries() if e.label == "elsewhere"]
    assert gone[0].problem == "folder not found"
    with pytest.raises(ValueError, match="no checkpoint here"):
        index.set_active(tmp_path)
    assert index.new_model_dir("new") == index.trained_dir / "new-2"
    assert index.new_model_dir("my model/1") == index.trained_dir / "my-model-1"
    assert old.exists()


def test_broken_state_file_is_not_fatal(tmp_path):
    (tmp_path / "models.json").write_text("{not json")
    index = ModelIndex(tmp_path)
    assert index.active() is None and [e.origin for e in index.entries()] == ["shipped"]


def test_cli_models_json_lists_baselines_and_checkpoints(tmp_path, capsys):
    data = tmp_path / "data"
    ModelIndex(data).set_active(_copy_model(tmp_path / "m", "2026-02-02T00:00:00+00:00", 0.8))
    assert main(["models", "--json", "--data-dir", str(data)]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in out["models"]}
    assert rows["svm"]["kind"] == rows["xgboost"]["kind"] == "baseline"
    assert rows["svm"]["modalities"] == ["spectrum"] and rows["batmm"]["kind"] == "network"
    assert out["sizes"] == ["paper", "lite", "tiny"]
    assert out["active"] == str((tmp_path / "m").resolve())
    assert {c["label"] for c in out["checkpoints"]} == {"batmm-lite-sim", "m"}
    assert main(["models", "--data-dir", str(data)]) == 0
    text = capsys.readouterr().out
    assert "xgboost" in text and "* m" in text
