"""The Qt-free half of the training wizard: plan → command line, the child's JSON lines, results, install."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.science.metrics import classification_report
from bhb_viewer.core.training.model_index import SHIPPED_DIR, ModelIndex
from bhb_viewer.core.training.retrain import (
    RESUME_STATE,
    TrainingMonitor,
    check_base,
    child_environment,
    find_training_sky,
    install_model,
    new_run_dir,
    resume_command,
    run_results,
    scores_metrics,
    time_left,
)
from bhb_viewer.core.training.train_config import CONFIG_FILE, TrainConfig, default_lr, train_command


def test_the_wizards_config_is_written_for_train_and_read_back_whole(tmp_path):
    plan = TrainConfig(
        dataset=str(tmp_path / "ds"), out=str(tmp_path / "run"), size="tiny", epochs=2, stages=["spectrum"]
    )
    config_file = str(tmp_path / "run" / CONFIG_FILE)
    assert train_command(plan, python="py") == [
        "py", "-m", "bhb_viewer", "train", "--config", config_file, "--progress-json",
    ]
    config = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())
    assert config["fractions"] == [0.7, 0.2, 0.1] and config["stages"] == ["spectrum"] and config["lr"] == 1e-3
    assert TrainConfig.from_file(config_file) == plan  # one configuration: what the wizard wrote is what train reads
    assert resume_command(tmp_path / "run", "py")[-3:] == ["--resume", str(tmp_path / "run"), "--progress-json"]
    assert default_lr("paper") == 1e-4 and default_lr("lite") == 1e-3
    assert TrainConfig(dataset="d", size="paper").lr == 1e-4 and TrainConfig(dataset="d", lr=0.01).lr == 0.01
    assert child_environment({"PYTHONPATH": "/x"})["PYTHONPATH"].endswith("/x")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("epochs", 0, "--epochs must be an integer ≥ 1"), ("batch_size", 2.5, "--batch-size must be an integer ≥ 1"),
    ("lr", -1.0, "--lr must be > 0"), ("num_workers", -1, "--num-workers must be an integer ≥ 0"),
    ("fractions", (0.5, 0.5, 0.5), "fractions must be three positive shares of 1"),
    ("freeze", "all", "--freeze must be one of encoders, none"), ("schedule", "step", "schedule must be one of"),
    ("base_ratio", 0.0, "--base-ratio must be > 0"), ("base", "sky", "give --init-from MODEL_DIR too"),
])
def test_an_impossible_value_is_refused_in_one_place_naming_its_flag(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict({"dataset": "d", field: value})
    with pytest.raises(ValueError, match=message):
        write_plan = TrainConfig(dataset="d")
        setattr(write_plan, field, value)  # what a wizard page could do
        write_plan.check()


def test_each_plan_gets_a_run_folder_of_its_own(tmp_path):
    first, second = new_run_dir(tmp_path, "batmm", "lite"), new_run_dir(tmp_path, "batmm", "lite")
    assert first != second and first.is_dir() and second.is_dir() and first.parent == tmp_path / "runs"
    assert first.name.startswith("batmm-lite-")


def test_monitor_follows_the_child():
    m = TrainingMonitor()
    lines = [
        "loading…",
        json.dumps({"event": "progress", "stage": "train:spectrum", "done": 1, "total": 4,
                    "metrics": {"loss": 0.7, "eta_s": 3.0}}),
        json.dumps({"event": "progress", "stage": "validate:spectrum", "done": 1, "total": 2,
                    "metrics": {"val_macro_f1": 0.6}}),
        json.dumps({"event": "progress", "stage": "train:image", "done": 2, "total": 4,
                    "metrics": {"loss": 0.5, "eta_s": 90}}),
        json.dumps({"event": "error", "message": "only one class"}),
    ]
    for line in lines:
        m.feed(line)
    assert m.loss == [(1.0, 0.7), (2.0, 0.5)] and m.val_f1 == [(1.0, 0.6)]
    assert (m.stage, m.fraction, m.outcome, m.message) == ("image", 0.5, "error", "only one class")
    assert m.log[0] == "loading…" and "validation macro F1 0.6000" in m.log[1]
    assert time_left(90) == "time left: 1 min 30 s" and time_left(None) == "time left: estimating"


def test_scores_metrics_are_the_cores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.6 * y + rng.uniform(0, 0.5, 200), 0, 1)
    m = scores_metrics(y, p)
    assert m["macro"] == classification_report(y, (p >= 0.5).astype(int))["macro"]
    assert sum(map(sum, m["confusion"])) == 200 and 0.5 < m["auc"] <= 1
    assert m["roc"]["fpr"][0] == 0 and len(m["pr"]["precision"]) == len(m["pr"]["recall"])


def test_install_copies_the_run_with_a_card_and_makes_it_active(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(SHIPPED_DIR / "batmm-lite-sim", run)
    (run / RESUME_STATE).write_bytes(b"x")
    rows = list(range(10))
    test = {"p_bhb": [0.9] * 5 + [0.1] * 5, "label": [1] * 5 + [0] * 5, "row": rows}
    (run / "test.json").write_text(json.dumps(test))
    assert run_results(run)["macro"]["f1"] == 1.0 and run_results(run)["rows"] == rows
    index = ModelIndex(tmp_path / "data")
    entry = install_model(run, "new model", index)
    dest = tmp_path / "data" / "models" / "new-model"
    assert entry.path == str(dest) and entry.active and index.active().path == str(dest)
    assert (dest / "weights.safetensors").is_file() and not (dest / RESUME_STATE).exists()
    card = (dest / "README.md").read_text()
    precision = json.loads((run / "config.json").read_text())["metrics"]["test"]["macro"]["precision"]
    assert card.startswith("# new model") and f"macro P {precision:.4f}" in card and "BHB class" in card
    assert str(tmp_path) not in card + (dest / "train-config.json").read_text()  # no machine paths
    assert install_model(run, "new model", index, make_active=False).path.endswith("new-model-2")
    assert index.active().path == str(dest)
    with pytest.raises(FileNotFoundError):
        install_model(tmp_path, "x", index)


def test_bhb_train_refuses_one_class(tmp_path, capsys):
    from tinysky import make_dataset

    from bhb_viewer.cli import main
    from bhb_viewer.core.dataset import open_dataset, write_dataset

    ds = open_dataset(make_dataset(tmp_path / "two", n=20))
    cat = ds.catalog.copy()
    cat["label"] = 1
    write_dataset(tmp_path / "one", cat, np.asarray(ds.spectra), np.asarray(ds.ivar), np.asarray(ds.cutouts))
    code = main(["train", "--dataset", str(tmp_path / "one"), "--out", str(tmp_path / "run"), "--size", "tiny",
                 "--device", "cpu", "--progress-json"])
    assert code == 2
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["event"] == "error" and "too few labelled stars to train: 0 non-BHB" in event["message"]


def test_a_truncated_run_file_is_named_in_the_error(tmp_path):
    (tmp_path / "test.json").write_text('{"label": [1, 0], "p_bhb": [0.9')
    with pytest.raises(BadInputError, match=r"test\.json: unreadable JSON"):
        run_results(tmp_path)


def test_the_training_sky_is_found_and_checked_by_its_recorded_manifest_hash(tmp_path):
    from bhb_viewer.core.dataset import manifest_hash

    manifest = {"count": 3, "provenance": {"seed": 1}}
    sky = tmp_path / "data" / "datasets" / "sky-3"
    sky.mkdir(parents=True)
    (sky / "manifest.json").write_text(json.dumps(manifest))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(
        json.dumps({"dataset": {"name": "sky-3", "manifest_sha256": manifest_hash(manifest)}})
    )
    assert find_training_sky(model, [tmp_path / "nowhere", tmp_path / "data" / "datasets"]) == sky
    check_base(model, sky, manifest_hash(manifest))  # the recorded sky: accepted
    with pytest.raises(ValueError, match=r"not the data set model was trained on \('sky-3'.*give --base-any"):
        check_base(model, sky, "0" * 64)
    check_base(model, sky, "0" * 64, any_base=True)
    (sky / "manifest.json").write_text(json.dumps({**manifest, "count": 4}))  # rebuilt: another sky of that name
    assert find_training_sky(model, [tmp_path / "data" / "datasets"]) is None
    (model / "config.json").write_text(json.dumps({}))  # a checkpoint that records no training data
    assert find_training_sky(model, [tmp_path / "data" / "datasets"]) is None
    with pytest.raises(ValueError, match="records no training data set"):
        check_base(model, sky, manifest_hash(manifest))
