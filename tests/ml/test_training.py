"""fit(): loss goes down, runs are deterministic for a seed, a cancelled run resumes to the same weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bhb_viewer.core.progress import Cancelled, CancelToken
from bhb_viewer.core.simulate import write_simulated
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


def test_stratified_split_is_seeded_stratified_and_disjoint():
    labels = np.r_[np.ones(40, int), np.zeros(60, int), -np.ones(5, int)]
    train, val, test = stratified_split(labels, seed=1)
    assert (len(train), len(val), len(test)) == (70, 20, 10)
    assert labels[train].sum() == 28 and labels[val].sum() == 8 and labels[test].sum() == 4
    assert not set(train) & set(val) and not set(val) & set(test) and not set(train) & set(test)
    assert np.all(labels[np.r_[train, val, test]] >= 0)  # unknown labels stay out
    again = stratified_split(labels, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
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
    assert learning_rate(TrainConfig(dataset="x", schedule="constant"), 50, 100) == 1e-4


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
    for name in ("config.json", "weights.safetensors", "validation.json", "test.json", "test_metrics.json", "history.json"):
        assert (run / name).is_file(), name
    assert not (run / "resume.json").exists()
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
    assert (out / "resume.safetensors").is_file() and (out / "resume.json").is_file()
    assert json.loads((out / "resume.json").read_text())["cursor"]["stage_index"] == 1
    resumed = fit(TrainConfig(dataset="ignored", out=str(out)), resume=True)
    weights = load_file(str(resumed / "weights.safetensors"))
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
    assert not (out / "resume.json").exists()


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
