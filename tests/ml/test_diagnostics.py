"""The Balmer-diagnostics branch (issue 19): features, the branch's stage, the averaged score, a warm start."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tinysky import make_dataset

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes
from bhb_viewer.core.training.train_config import TrainConfig
from bhb_viewer.ml.checkpoint import CheckpointError, load_checkpoint
from bhb_viewer.ml.diagnostics import CLIP, N_DIAGNOSTIC_FEATURES, DiagnosticScaler, balmer_values
from bhb_viewer.ml.inference import Predictor
from bhb_viewer.ml.models import build_model
from bhb_viewer.ml.photometry import N_FEATURES
from bhb_viewer.ml.training import stage_modalities

pytestmark = pytest.mark.usefixtures("one_thread")


def test_scaler_standardises_clips_flags_and_round_trips():
    values = np.array([[1.0, 10.0, 0.5, 5.0], [3.0, 30.0, np.nan, 7.0], [2.0, 20.0, 0.7, 1e6]])
    scaler = DiagnosticScaler.fit(values)
    np.testing.assert_allclose(scaler.mean[:3], [2.0, 20.0, 0.6], rtol=1e-6)  # NaN left out of the mean
    features = scaler.features(values)
    assert features.shape == (3, N_DIAGNOSTIC_FEATURES) and features.dtype == np.float32
    np.testing.assert_array_equal(features[:, 4:], np.isfinite(values))  # present flags
    assert features[1, 2] == 0 and np.abs(features[:, :4]).max() <= CLIP  # missing reads 0, a wild fit is clipped
    again = DiagnosticScaler.from_config(json.loads(json.dumps(scaler.to_config())))
    np.testing.assert_array_equal(again.features(values), features)
    with pytest.raises(ValueError, match="diagnostics"):
        DiagnosticScaler.from_config({**scaler.to_config(), "features": ["d02"]})


def test_balmer_values_of_the_demo_like_sky(tmp_path):
    data = open_dataset(make_dataset(tmp_path / "set", n=12, size=16, seed=1, photometry=True))
    values = balmer_values(np.asarray(data.spectra), np.asarray(data.ivar))
    assert values.shape == (12, 4)
    assert np.isnan(balmer_values(np.full((1, data.spectra.shape[1]), np.nan), None)).all()


def test_the_branch_has_its_own_stage_and_the_full_pass_averages():
    model = build_model("batmm", "tiny", cutout_size=16, photometry=True, diagnostics=True).eval()
    assert model.stages() == ["spectrum", "image", "fusion", "diagnostics", "full"]
    head = {id(p) for p in model.diagnostics_head.parameters()}
    assert {id(p) for p in model.stage_parameters("diagnostics")} == head
    assert not head & {id(p) for p in model.stage_parameters("fusion")}  # the fusion stage leaves the branch alone
    assert stage_modalities(model, "diagnostics") == ("photometry", "diagnostics")
    assert stage_modalities(model, "fusion") == ("spectrum", "image", "photometry")
    g = torch.Generator().manual_seed(0)
    spectrum, image = torch.rand(3, 3522, generator=g), torch.randn(3, 5, 16, 16, generator=g)
    colours, diagnostics = torch.randn(3, N_FEATURES, generator=g), torch.randn(3, N_DIAGNOSTIC_FEATURES, generator=g)
    with torch.no_grad():
        fused = model(spectrum, image, stage="fusion", photometry=colours)["logits"]
        branch = model(stage="diagnostics", photometry=colours, diagnostics=diagnostics)["logits"]
        full = model(spectrum, image, photometry=colours, diagnostics=diagnostics)
    expected = (torch.softmax(fused, 1) + torch.softmax(branch, 1)) / 2
    torch.testing.assert_close(torch.softmax(full["logits"], 1), expected)
    torch.testing.assert_close(full["logits_fusion"], fused)
    with pytest.raises(ValueError, match="photometry and images"):
        build_model("batmm", "tiny", diagnostics=True)


def test_config_refuses_a_branch_without_colours_or_a_frozen_fusion_without_a_branch(tmp_path):
    with pytest.raises(ValueError, match="--photometry too"):
        TrainConfig(dataset="d", model_overrides={"diagnostics": True}).check()
    with pytest.raises(ValueError, match="--diagnostics too"):
        TrainConfig(dataset="d", init_from="m", freeze="fusion").check()


def test_warm_start_adds_the_branch_keeps_the_rest_and_scores(tmp_path, capsys):
    data_dir = make_dataset(tmp_path / "set", n=160, size=16, seed=4, photometry=True)
    common = ["--dataset", str(data_dir), "--model", "batmm", "--size", "tiny", "--epochs", "2", "--batch-size",
              "16", "--max-steps-per-epoch", "4", "--lr", "3e-3", "--threads", "1"]
    base, grown = tmp_path / "base", tmp_path / "grown"
    assert main(["train", *common, "--out", str(base), "--photometry"]) == 0
    assert main(["train", *common, "--out", str(grown), "--init-from", str(base), "--diagnostics",
                 "--freeze", "fusion"]) == 0
    capsys.readouterr()
    config = json.loads((grown / "config.json").read_text())
    assert config["model"]["arch"]["diagnostics"] is True and config["training"]["freeze"] == "fusion"
    assert len(config["preprocess"]["diagnostics"]["mean"]) == 4
    before, after = load_file(base / "weights.safetensors"), load_file(grown / "weights.safetensors")
    assert set(after) - set(before) == {k for k in after if k.startswith("diagnostics_head.")} != set()
    assert all(torch.equal(before[k], after[k]) for k in before)  # only the branch learnt

    data = open_dataset(data_dir)
    rows = np.arange(10)
    flux, ivar, cubes = (np.asarray(a[rows]) for a in (data.spectra, data.ivar, data.cutouts))
    mags = catalog_magnitudes(data.catalog)[rows]
    p_grown = next(Predictor(grown, device="cpu").predict(flux, ivar, cubes, mags=mags)).p_bhb
    p_base = next(Predictor(base, device="cpu").predict(flux, ivar, cubes, mags=mags)).p_bhb
    assert np.isfinite(p_grown).all() and not np.allclose(p_grown, p_base)
    out = tmp_path / "scores.ecsv"
    assert main(["score", str(data_dir), "--model", str(grown), "--out", str(out), "--workers", "0"]) == 0

    # a checkpoint whose branch lost its statistics is refused by name
    config["preprocess"].pop("diagnostics")
    (grown / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="diagnostics disagree"):
        load_checkpoint(grown)
