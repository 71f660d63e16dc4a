"""fit(): loss goes down, runs are deterministic for a seed, a cancelled run resumes to the same weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bhb_viewer.core.progress import Cancelled, CancelToken
from bhb_viewer.core.sim import write_simulated
from bhb_viewer.ml.data import epoch_batches, stratified_split
from bhb_viewer.ml.training import TrainConfig, fit, learning_rate


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """fit(threads=1) sets torch's thread count; put it back for the other test modules."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return write_simulated(tmp_path_factory.mktemp("sim") / "tiny", n=48, seed=3, cutout_size=16)


def _config(dataset, out, **kw) -> TrainConfig:
    base = dict(dataset=str(dataset), model="batmm", size="tiny", epochs=2, batch_size=8, lr=3e-3,
                max_steps_per_epoch=2, patience=5, threads=1, out=str(out))
    return TrainConfig(**{**base, **kw})


def _resume_meta(run_dir) -> dict:
    from safetensors import safe_open

    from bhb_viewer.ml.training import RESUME_KEY

    with safe_open(str(run_dir / "resume.safetensors"), "pt") as f:
        return json.loads(f.metadata()[RESUME_KEY])


def test_stratified_split_is_seeded_stratified_and_disjoint():
    labels = np.r_[np.ones(40, int), np.zeros(60, int), -np.ones(5, int)]
    train, val, test = stratified_split(labels, seed=1)
    assert (len(train), len(val), len(test)) == (70, 20, 10)
    assert labels[train].sum() == 28 and labels[val].sum() == 8 and labels[test].sum() == 4
    assert not set(train) & set(val) and not set(val) & set(test) and not set(train) & set(test)
    assert np.all(labels[np.r_[train, val, test]] >= 0)  # unknown labels stay out
    again = stratified_split(labels, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=False))
    assert not np.array_equal(train, stratified_split(labels, seed=2)[0])
    with pytest.raises(ValueError):
        stratified_split(labels, 0, (0.5, 0.2, 0.2))


def test_epoch_batches_depend_only_on_the_seed():
    a = epoch_batches(10, 4, shuffle=True, seed=(0, 1, 2), drop_last=True)
    assert [len(b) for b in a] == [4, 4] and a == epoch_batches(10, 4, True, (0, 1, 2), True)
    assert epoch_batches(5, 2, shuffle=False) == [[0, 1], [2, 3], [4]]


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(dataset="x", lr=1e-3, warmup_fraction=0.1)
    lrs = [learning_rate(config, s, 100) for s in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1e-3) and lrs[99] < 1e-5
    assert learning_rate(TrainConfig(dataset="x", schedule="constant"), 50, 100) == 1e-3  # lite's default


def test_config_from_file_with_overrides(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text('dataset = "d"\nmodel = "early_add"\nepochs = 4\nfractions = [0.6, 0.2, 0.2]\n')
    config = TrainConfig.from_file(path, epochs=7, seed=None)
    assert (config.model, config.epochs, config.seed, config.fractions) == ("early_add", 7, 0, (0.6, 0.2, 0.2))
    with pytest.raises(ValueError, match="bogus"):
        TrainConfig.from_dict({"dataset": "d", "bogus": 1})


def test_a_few_steps_reduce_the_training_loss(tiny_dataset, tmp_path):
    config = _config(tiny_dataset, tmp_path / "run", model="spectrum_vgg1d_sa", epochs=3, max_steps_per_epoch=4,
                     schedule="constant", lr=3e-3)
    losses = []
    fit(config, progress=lambda e: losses.append(e.metrics["loss"]) if e.stage.startswith("train") else None)
    assert len(losses) == 12
    assert np.mean(losses[-4:]) < np.mean(losses[:4])


def test_fit_writes_checkpoint_metrics_and_validation_scores(tiny_dataset, tmp_path):
    events = []
    run = fit(_config(tiny_dataset, tmp_path / "run"), progress=events.append)
    for name in (
        "config.json", "weights.safetensors", "validation.json", "test.json", "test_metrics.json", "history.json",
    ):
        assert (run / name).is_file(), name
    assert not (run / "resume.safetensors").exists()
    val = json.loads((run / "validation.json").read_text())
    assert len(val["p_bhb"]) == len(val["label"]) > 0 and all(0 <= p <= 1 for p in val["p_bhb"])
    history = json.loads((run / "history.json").read_text())
    assert [h["stage"] for h in history] == ["spectrum"] * 2 + ["image"] * 2 + ["fusion"] * 2
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert set(metrics) >= {"BHB", "non-BHB", "macro", "auc"}
    stages = {e.stage for e in events}
    assert {"train:spectrum", "train:image", "train:fusion", "validate:fusion"} <= stages
    assert all("eta_s" in e.metrics for e in events if e.stage.startswith("train"))


def test_same_seed_same_weights(tiny_dataset, tmp_path):
    runs = [fit(_config(tiny_dataset, tmp_path / f"run{i}", model="early_concat", epochs=1)) for i in range(2)]
    a, b = (load_file(str(r / "weights.safetensors")) for r in runs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cancel_then_resume_gives_the_uninterrupted_weights(tiny_dataset, tmp_path):
    reference = load_file(str(fit(_config(tiny_dataset, tmp_path / "straight")) / "weights.safetensors"))

    cancel = CancelToken()
    seen = []

    def cancel_mid_image_stage(event):
        seen.append(event.stage)
        if event.stage == "train:image" and seen.count("train:image") == 3:  # epoch 2, step 1 of the image stage
            cancel.cancel()

    out = tmp_path / "interrupted"
    with pytest.raises(Cancelled):
        fit(_config(tiny_dataset, out), progress=cancel_mid_image_stage, cancel=cancel)
    assert [p.name for p in out.iterdir() if p.name.startswith("resume")] == ["resume.safetensors"]  # one file
    assert _resume_meta(out)["cursor"]["stage_index"] == 1
    resumed = fit(TrainConfig(dataset="ignored", out=str(out)), resume=True)
    weights = load_file(str(resumed / "weights.safetensors"))
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
    assert not (out / "resume.safetensors").exists()


def test_a_resumed_run_may_shorten_its_epochs_but_not_change_its_model(tiny_dataset, tmp_path):
    cancel = CancelToken()
    cancel.cancel()  # stop before the first step
    out = tmp_path / "run"
    with pytest.raises(Cancelled):
        fit(_config(tiny_dataset, out, model="spectrum_vgg1d_sa"), cancel=cancel)
    with pytest.raises(ValueError, match="can only change"):
        fit(TrainConfig(dataset="ignored", out=str(out)), resume=True, resume_overrides={"model": "batmm"})
    run = fit(TrainConfig(dataset="ignored", out=str(out)), resume=True, resume_overrides={"epochs": 1})
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())] == [1]


def test_a_kill_while_saving_the_resume_state_leaves_the_previous_one_resumable(tiny_dataset, tmp_path, monkeypatch):
    """Issue 12 item 7: the resume state is one file renamed into place, so a kill mid-save leaves
    the last complete state (never a mix of two saves)."""
    import bhb_viewer.ml.training as training

    out = tmp_path / "run"
    cancel = CancelToken()
    events = []

    def cancel_in_second_epoch(event):
        events.append(event.stage)
        if events.count("train:spectrum") == 3:
            cancel.cancel()

    real_save = training.save_file
    saves = []

    def killed_on_second_save(tensors, path, metadata=None):
        saves.append(path)
        if len(saves) == 2:  # the save at cancel time dies half-way through
            with open(path, "wb") as f:
                f.write(b"half a file")
            raise KeyboardInterrupt("killed")
        real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(training, "save_file", killed_on_second_save)
    with pytest.raises(KeyboardInterrupt):
        fit(_config(tiny_dataset, out, model="spectrum_vgg1d_sa"), progress=cancel_in_second_epoch, cancel=cancel)
    monkeypatch.setattr(training, "save_file", real_save)
    assert sorted(p.name for p in out.iterdir() if "resume" in p.name) == ["resume.safetensors"]  # no temp, no pair
    meta = _resume_meta(out)
    assert (meta["cursor"]["epoch"], meta["cursor"]["step"]) == (1, 0)  # the end-of-epoch-1 save
    run = fit(TrainConfig(dataset="ignored", out=str(out)), resume=True)
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())] == [1, 2]


def test_torchrun_two_ranks_train_with_ddp_and_resume(tiny_dataset, tmp_path):
    """bhb train under torchrun (gloo, 2 CPU ranks): rank 0 alone reports and writes; a run cancelled
    on one process resumes on two."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import bhb_viewer

    env = {**os.environ, "PYTHONPATH": str(Path(bhb_viewer.__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}

    def torchrun(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                               "-m", "bhb_viewer", "train", *args, "--progress-json"],
                              env=env, capture_output=True, text=True, timeout=300)

    out = tmp_path / "ddp"
    proc = torchrun("--dataset", str(tiny_dataset), "--out", str(out), "--model", "batmm", "--size", "tiny",
                    "--epochs", "2", "--batch-size", "4", "--max-steps-per-epoch", "2", "--threads", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [e["event"] for e in lines].count("done") == 1  # rank 0 only
    steps = [e for e in lines if e["event"] == "progress" and e["stage"] == "train:spectrum"]
    assert len(steps) == 4 and steps[-1]["total"] == 12  # 2 steps × 2 epochs × 3 stages, reported once
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert not (out / "resume.safetensors").exists()

    cancel = CancelToken()
    cancel.cancel()
    resumed = tmp_path / "resumed"
    with pytest.raises(Cancelled):
        fit(_config(tiny_dataset, resumed, model="spectrum_vgg1d_sa"), cancel=cancel)
    proc = torchrun("--resume", str(resumed))
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((resumed / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and (resumed / "weights.safetensors").is_file()


def test_a_rising_auc_keeps_a_stage_going_while_f1_is_stuck():
    """A network still calling every star non-BHB keeps one F1 (or dips below a lucky first epoch)
    while its AUC rises: early stopping must not end the stage there (it did, at F1 0.43, on
    2,000-star sets). The epoch kept is still the best F1, ties broken by AUC."""
    from bhb_viewer.ml.training import _better, _Cursor, _still_learning

    cursor = _Cursor(best_f1=0.44, best_auc=0.40, top_auc=0.61)
    assert _still_learning(0.427, 0.64, cursor) and not _better(0.427, 0.64, cursor)
    assert not _still_learning(0.427, 0.60, cursor) and not _still_learning(0.427, float("nan"), cursor)
    assert _still_learning(0.45, 0.50, cursor) and _better(0.45, 0.50, cursor)
    assert _better(0.44, 0.41, cursor) and not _better(0.44, 0.39, cursor)  # equal F1: AUC decides
    assert _better(0.0, float("nan"), _Cursor()) and _still_learning(0.0, float("nan"), _Cursor())
