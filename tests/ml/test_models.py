import json

import pytest
import torch

from bhb_viewer.cli import main
from bhb_viewer.ml.models import (
    MODEL_REGISTRY,
    build_model,
    count_flops,
    example_inputs,
    gflops_per_candidate,
    list_models,
    n_parameters,
)

torch.set_num_threads(1)

TABLE_MODELS = {
    "image_resnet", "image_resnet_se", "spectrum_vgg1d", "spectrum_vgg1d_sa", "early_add", "early_concat",
    "vgg1d_fusion", "transformer_spectrum", "transformer_image", "transformer_sem", "transformer_ca", "batmm",
}


def test_registry_holds_every_paper_model():
    assert set(MODEL_REGISTRY) == TABLE_MODELS


@pytest.mark.parametrize("name", sorted(TABLE_MODELS))
def test_every_model_forwards_every_stage(name):
    torch.manual_seed(0)
    model = build_model(name, "tiny").eval()
    spectrum, image = example_inputs(3)
    modalities = MODEL_REGISTRY[name].modalities
    for stage in model.stages():
        with torch.no_grad():
            out = model(
                spectrum if "spectrum" in modalities else None, image if "image" in modalities else None, stage=stage
            )
        assert out["logits"].shape == (3, 2)
        assert torch.isfinite(out["logits"]).all()
    assert model.stages()[-1] == "full"
    if len(modalities) == 2:
        assert model.stages() == ["spectrum", "image", "fusion", "full"]


def test_batmm_explanations_shapes_and_normalisation():
    model = build_model("batmm", "tiny", n_layers=2).eval()
    spectrum, image = example_inputs(4)
    with torch.no_grad():
        out = model(spectrum, image)
    heads, k_s = model.arch.n_heads, model.arch.k_s
    assert out["image_grid"] == (4, 4)
    assert out["segment_weights"].shape == (4, 7)
    assert out["band_weights"].shape == (4, 5)
    assert out["cross_attention"].shape == (4, 2, heads, 16, k_s)
    assert out["cls_attention"].shape == (4, 2, heads, 1 + 16 + k_s)
    torch.testing.assert_close(out["segment_weights"].sum(1), torch.ones(4))
    torch.testing.assert_close(out["band_weights"].sum(1), torch.ones(4))
    torch.testing.assert_close(out["cross_attention"].sum(-1), torch.ones(4, 2, heads, 16))
    torch.testing.assert_close(out["cls_attention"].sum(-1), torch.ones(4, 2, heads))


def test_bf16_autocast_as_on_cuda_keeps_explanations_in_float32():
    model = build_model("batmm", "tiny").eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*example_inputs(2))
    assert torch.isfinite(out["logits"].float()).all()
    for key in ("segment_weights", "band_weights", "cross_attention", "cls_attention"):
        assert out[key].dtype == torch.float32
        torch.testing.assert_close(out[key].sum(-1), torch.ones(out[key].shape[:-1]))


def test_ablations_differ_only_in_what_the_table_says():
    counts = {
        n: n_parameters(build_model(n, "tiny"))
        for n in ("transformer_image", "transformer_sem", "transformer_ca", "batmm")
    }
    d = build_model("batmm", "tiny").arch.d_model
    assert counts["transformer_sem"] - counts["transformer_image"] == 2 * d  # two semantic embeddings
    assert counts["batmm"] - counts["transformer_ca"] == 2 * d
    with torch.no_grad():
        out = build_model("transformer_sem", "tiny").eval()(*example_inputs(2))
    assert "cross_attention" not in out
    positional = build_model("batmm", "tiny", positional=True)
    n_tokens = 1 + 16 + positional.arch.k_s
    assert n_parameters(positional) - counts["batmm"] == n_tokens * d  # off by default, as in the paper
    assert positional(*example_inputs(2))["logits"].shape == (2, 2)


def test_unimodal_models_accept_missing_other_input():
    spectrum, image = example_inputs(2)
    assert build_model("spectrum_vgg1d_sa", "tiny")(spectrum, None)["logits"].shape == (2, 2)
    assert build_model("image_resnet_se", "tiny")(None, image)["logits"].shape == (2, 2)
    with pytest.raises(ValueError, match="needs the image"):
        build_model("batmm", "tiny")(spectrum, None)


def test_stage_parameters_partition_and_freeze():
    model = build_model("batmm", "tiny")
    enc = {id(p) for p in model.encoder_parameters()}
    fus = {id(p) for p in model.fusion_parameters()}
    aux = {id(p) for p in model.aux_heads.parameters()}
    assert enc.isdisjoint(fus) and aux.isdisjoint(enc | fus)
    assert enc | fus | aux == {id(p) for p in model.parameters()}
    trainable = model.freeze_for("fusion")
    assert {id(p) for p in trainable} == fus
    assert all(not p.requires_grad for p in model.encoder_parameters())
    model.train()
    assert not model.spectrum_encoder.training and not model.image_encoder.training
    assert model.layers.training
    spectrum, image = example_inputs(2)
    model(spectrum, image)["logits"].sum().backward()
    assert all(p.grad is None for p in model.encoder_parameters())
    model.freeze_for("spectrum")
    assert all(p.requires_grad for p in model.spectrum_encoder.parameters())
    assert not any(p.requires_grad for p in model.layers.parameters())
    with pytest.raises(ValueError, match="stage"):
        model.stage_parameters("image_only")


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet9000", "tiny")
    with pytest.raises(ValueError, match="unknown size"):
        build_model("batmm", "huge")
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("batmm", "tiny", widht=3)


def test_paper_size_matches_the_spec():
    with torch.device("meta"):
        model = build_model("batmm", "paper")
    assert model.arch.d_model == 512 and model.arch.n_layers == 8 and model.arch.n_heads == 8
    assert model.arch.vgg_widths == (64, 128, 256, 512, 512) and model.arch.vgg_depths == (2, 2, 4, 4, 4)
    assert model.image_encoder.backbone.out_channels == 2048
    # VGG19-1D ≈ 5.4 GFLOP, ResNet-50 with a stride-2 stem at 64² ≈ 2.7, fusion ≈ 2.
    assert 8.0 < gflops_per_candidate("batmm", "paper") < 11.0
    assert count_flops(build_model("batmm", "lite")) < 0.2e9


def test_paper_backbone_is_torchvision_resnet50_with_a_five_band_stem():
    import torchvision

    from bhb_viewer.ml.encoders import ResNet50Backbone

    with torch.device("meta"):
        reference = torchvision.models.resnet50(weights=None).state_dict()
        ours = ResNet50Backbone(5, 64).state_dict()
    reference = {k: v.shape for k, v in reference.items() if not k.startswith("fc.")}
    assert reference.keys() == ours.keys()  # user-supplied ImageNet weights load by name
    assert [k for k in ours if ours[k].shape != reference[k]] == ["conv1.weight"]
    assert ours["conv1.weight"].shape == (64, 5, 7, 7)


def test_list_models_and_cli(capsys):
    rows = {r["name"]: r for r in list_models()}
    assert rows["batmm"]["sizes"]["paper"] > rows["batmm"]["sizes"]["lite"] > rows["batmm"]["sizes"]["tiny"]
    assert rows["batmm"]["modalities"] == ["spectrum", "image"]
    assert main(["models", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {m["name"] for m in data["models"]} == TABLE_MODELS | {"svm", "xgboost"}
    assert main(["models"]) == 0
    assert "batmm" in capsys.readouterr().out


def test_segment_norm_keeps_the_segment_attention_off_the_flux_level():
    """Issue 21: without a norm the segment logits grow with the flux level until the softmax is one-hot; with
    ``segment_norm`` the weights do not change when the spectrum is scaled, and the option reaches the model."""
    from bhb_viewer.core.grid import N_SEGMENTS, SEGMENT_LENGTH
    from bhb_viewer.ml.layers import SegmentSelfAttention

    torch.manual_seed(0)
    spectrum = torch.rand(3, N_SEGMENTS * SEGMENT_LENGTH) + torch.linspace(1.0, 0.0, N_SEGMENTS * SEGMENT_LENGTH)
    plain, normed = SegmentSelfAttention(d_k=8), SegmentSelfAttention(d_k=8, normalise=True)

    def peak(layer, x):
        with torch.no_grad():
            return layer(x)[1].max(dim=-1).values.mean().item()

    assert peak(plain, 30 * spectrum) > 0.99 > 0.5 > peak(plain, spectrum)  # one-hot once the level is high
    with torch.no_grad():
        torch.testing.assert_close(normed(30 * spectrum)[1], normed(spectrum)[1], atol=1e-4, rtol=1e-4)
    model = build_model("spectrum_vgg1d_sa", "tiny", segment_norm=True)
    assert model.spectrum_encoder.attention.norm is not None and model.arch.segment_norm
    assert build_model("batmm", "tiny").spectrum_encoder.attention.norm is None  # the paper's, by default
    # stored only when on: a checkpoint that does not use it stays readable by code older than the option
    assert model.arch.to_dict()["segment_norm"] and "segment_norm" not in build_model("batmm", "tiny").arch.to_dict()
