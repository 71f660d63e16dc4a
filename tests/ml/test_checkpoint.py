import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from bhb_viewer.ml.checkpoint import CheckpointError, load_checkpoint, model_version, read_config, save_checkpoint
from bhb_viewer.ml.models import build_model, example_inputs, make_arch
from bhb_viewer.ml.preprocess import Preprocessor

torch.set_num_threads(1)


def _save(path, name="batmm", **overrides):
    torch.manual_seed(0)
    model = build_model(name, "tiny", **overrides)
    pre = Preprocessor(np.linspace(0.1, 0.5, 5, dtype=np.float32), np.full(5, 0.2, np.float32))
    save_checkpoint(
        path, model, {"preprocess": pre.to_config(), "dataset_hash": "abc", "metrics": {"test": {"f1": 0.9}}}
    )
    return model.eval()


def _edit_config(path, edit):
    config = json.loads((path / "config.json").read_text())
    edit(config)
    (path / "config.json").write_text(json.dumps(config))


def test_save_then_load_gives_identical_outputs(tmp_path):
    model = _save(tmp_path, n_layers=2)
    loaded, config = load_checkpoint(tmp_path)
    assert (config["model"]["name"], config["model"]["size"]) == ("batmm", "tiny")
    assert make_arch("tiny", **config["model"]["arch"]) == model.arch
    assert config["dataset_hash"] == "abc" and config["class_names"] == ["non-BHB", "BHB"]
    assert config["preprocess"]["image"]["band_mean"][0] == pytest.approx(0.1)
    assert not loaded.training and loaded.arch.n_layers == 2
    spectrum, image = example_inputs(3)
    with torch.no_grad():
        a, b = model(spectrum, image), loaded(spectrum, image)
    for key in ("logits", "segment_weights", "band_weights", "cross_attention", "cls_attention"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert model_version(config).startswith("batmm-tiny@") and len(model_version(config)) == len("batmm-tiny@") + 10
    assert not list(tmp_path.glob("*.tmp"))


def test_wrong_shapes_are_refused_with_the_tensor_named(tmp_path):
    _save(tmp_path)
    _edit_config(tmp_path, lambda c: c["model"]["arch"].update(d_model=32))
    # the sha256 still matches the weights; the shapes do not
    with pytest.raises(CheckpointError, match=r"weights do not fit batmm \(tiny\).*model wants"):
        load_checkpoint(tmp_path)


def test_other_model_name_is_refused(tmp_path):
    _save(tmp_path)
    _edit_config(tmp_path, lambda c: c["model"].update(name="transformer_ca"))
    with pytest.raises(CheckpointError, match="unexpected semantic.weight"):
        load_checkpoint(tmp_path)


def test_versions_grid_and_names_are_checked(tmp_path):
    _save(tmp_path)
    cases = [
        (lambda c: c.update(format_version=99), "checkpoint format version 99"),
        (lambda c: c.update(model_code_version=0), "model code version 0"),
        (lambda c: c["preprocess"]["grid"].update(dloglam=2e-4), "spectral grid"),
        (lambda c: c.update(class_names=["BHB", "non-BHB"]), "class names"),
        (lambda c: c["model"].update(name="resnet9000"), "unknown model"),
        (lambda c: c["model"]["arch"].update(colour=3), "unknown architecture"),
        (lambda c: c.update(format="something-else"), "not a bhb-checkpoint"),
    ]
    original = (tmp_path / "config.json").read_text()
    for edit, message in cases:
        (tmp_path / "config.json").write_text(original)
        _edit_config(tmp_path, edit)
        with pytest.raises(CheckpointError, match=message) as info:
            load_checkpoint(tmp_path)
        assert str(tmp_path) in str(info.value)


def test_tampered_or_missing_files_are_refused(tmp_path):
    _save(tmp_path)
    state = load_file(str(tmp_path / "weights.safetensors"))
    state["head.bias"] = state["head.bias"] + 1
    save_file(state, str(tmp_path / "weights.safetensors"))
    with pytest.raises(CheckpointError, match="sha256"):
        load_checkpoint(tmp_path)
    (tmp_path / "weights.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable JSON"):
        read_config(tmp_path)
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


def test_config_needs_preprocessing(tmp_path):
    with pytest.raises(ValueError, match="preprocess"):
        save_checkpoint(tmp_path, build_model("spectrum_vgg1d", "tiny"), {})


def _reweigh(path, transform):
    """Replace the weights and record their sha256, as a forger would."""
    from bhb_viewer.core.files import file_sha256

    save_file(transform(load_file(str(path / "weights.safetensors"))), str(path / "weights.safetensors"))
    _edit_config(path, lambda c: c["weights"].update(sha256=file_sha256(path / "weights.safetensors")))


@pytest.mark.parametrize(("arch", "message"), [
    ({"n_layers": 10**7}, r"n_layers = 10000000 is outside 1-128"),
    ({"cutout_size": 10**5}, r"cutout_size = 100000 is outside"),
    ({"n_layers": "2"}, r"n_layers must be int, not str"),
    ({"n_heads": -2}, r"n_heads = -2 is outside"),
    ({"dropout": float("nan")}, r"dropout = nan is outside"),
    ({"positional": 1}, r"positional must be bool"),
    ({"vgg_widths": [4, 10**6]}, r"vgg_widths must be a list"),
])
def test_architecture_numbers_are_checked_before_anything_is_built(tmp_path, arch, message):
    _save(tmp_path)
    _edit_config(tmp_path, lambda c: c["model"]["arch"].update(arch))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path)


def test_a_wide_model_is_refused_from_the_header_without_building_it(tmp_path, monkeypatch):
    import bhb_viewer.ml.checkpoint as checkpoint

    _save(tmp_path)
    _edit_config(tmp_path, lambda c: c["model"]["arch"].update(d_model=4096, ffn_dim=16384, d_k=512))
    real = checkpoint.build_model
    built = []
    monkeypatch.setattr(checkpoint, "build_model", lambda *a, **k: built.append(torch.empty(0).device) or real(*a, **k))
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(tmp_path)
    assert [d.type for d in built] == ["meta"]  # laid out on the meta device only: nothing allocated


def test_forged_headers_weights_outside_and_nan_are_refused(tmp_path):
    _save(tmp_path)
    _reweigh(
        tmp_path,
        lambda s: {k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v) for k, v in s.items()},
    )
    with pytest.raises(CheckpointError, match="non-finite weights"):
        load_checkpoint(tmp_path)
    _edit_config(tmp_path, lambda c: c["weights"].update(file="../other/weights.safetensors"))
    with pytest.raises(CheckpointError, match="must name a file in the checkpoint folder"):
        load_checkpoint(tmp_path)
    other = tmp_path / "forged"
    _save(other)
    header = json.dumps({"x": {"dtype": "F32", "shape": [200000, 200000], "data_offsets": [0, 160000000000]}}).encode()
    (other / "weights.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(64))
    _reweigh_sha = __import__("bhb_viewer.core.files", fromlist=["file_sha256"]).file_sha256
    _edit_config(other, lambda c: c["weights"].update(sha256=_reweigh_sha(other / "weights.safetensors")))
    with pytest.raises(CheckpointError, match="file holds 64 bytes of data"):
        load_checkpoint(other)


def test_non_finite_statistics_and_scores_name_the_checkpoint(tmp_path):
    from bhb_viewer.ml.checkpoint import check_scores, load_preprocessor

    _save(tmp_path)
    _edit_config(tmp_path, lambda c: c["preprocess"]["image"].update(band_mean=[float("nan")] * 5))
    with pytest.raises(CheckpointError, match=r"non-finite preprocessing numbers: preprocess.image.band_mean\[0\]"):
        load_preprocessor(read_config(tmp_path), tmp_path)
    check_scores(np.array([0.1, 0.9]), tmp_path)
    with pytest.raises(CheckpointError, match=r"2 non-finite P\(BHB\).*row 11") as info:
        check_scores(np.array([0.5, np.nan, np.inf]), tmp_path, start=10)
    assert info.value.path == str(tmp_path)
