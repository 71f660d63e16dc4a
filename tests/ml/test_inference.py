import numpy as np
import pytest
import torch

from bhb_viewer.core.grid import NPIX
from bhb_viewer.core.progress import Cancelled, CancelToken
from bhb_viewer.ml.checkpoint import save_checkpoint
from bhb_viewer.ml.importance import band_background
from bhb_viewer.ml.inference import Predictor
from bhb_viewer.ml.models import build_model
from bhb_viewer.ml.preprocess import Preprocessor

torch.set_num_threads(1)


def _raw(n, seed=0):
    rng = np.random.default_rng(seed)
    flux = rng.normal(50, 5, size=(n, NPIX)).astype(np.float32)
    ivar = np.ones_like(flux)
    ivar[:, 1000:1010] = 0
    cubes = rng.lognormal(0, 1, size=(n, 5, 64, 64)).astype(np.float32)
    return flux, ivar, cubes


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    model = build_model("batmm", "tiny", n_layers=2)
    save_checkpoint(path, model, {"preprocess": Preprocessor(np.full(5, 0.3), np.full(5, 0.1)).to_config()})
    return path


def test_predict_yields_batches_matching_the_model(checkpoint):
    flux, ivar, cubes = _raw(7)
    predictor = Predictor(checkpoint, device="cpu")
    assert predictor.model_name == "batmm" and predictor.model_version.startswith("batmm-tiny@")
    events = []
    batches = list(predictor.predict(flux, ivar, cubes, batch_size=3, progress=events.append))
    assert [(b.start, b.stop) for b in batches] == [(0, 3), (3, 6), (6, 7)]
    p = np.concatenate([b.p_bhb for b in batches])
    assert p.shape == (7,) and ((p > 0) & (p < 1)).all()
    assert batches[0].saliency is None  # explanations only when asked
    assert [e.done for e in events] == [0, 3, 6, 7] and events[-1].total == 7
    pre = predictor.preprocessor
    with torch.no_grad():
        logits = predictor.model(torch.from_numpy(pre.spectra(flux, ivar)), torch.from_numpy(pre.images(cubes)))[
            "logits"
        ]
    np.testing.assert_allclose(p, torch.softmax(logits, 1)[:, 1].numpy(), rtol=1e-5)


def test_cancel_stops_between_batches(checkpoint):
    flux, ivar, cubes = _raw(6)
    cancel = CancelToken()
    gen = Predictor(checkpoint, device="cpu").predict(flux, ivar, cubes, batch_size=2, cancel=cancel)
    assert len(next(gen).p_bhb) == 2
    cancel.cancel()
    with pytest.raises(Cancelled):
        next(gen)


def test_explanations_have_the_documented_shapes(checkpoint):
    flux, ivar, cubes = _raw(3)
    predictor = Predictor(checkpoint, device="cpu")
    (b,) = list(predictor.predict(flux, ivar, cubes, batch_size=4, explain=True))
    heads, k_s = predictor.model.arch.n_heads, predictor.model.arch.k_s
    assert b.segment_weights.shape == (3, 7) and b.band_weights.shape == (3, 5)
    np.testing.assert_allclose(b.segment_weights.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(b.band_weights.sum(1), 1, rtol=1e-5)
    assert b.cross_attention.shape == (3, 2, heads, 16, k_s)
    assert b.cls_attention.shape == (3, 2, heads, 1 + 16 + k_s)
    assert b.image_grid == (4, 4)
    assert b.saliency.shape == (3, NPIX) and b.attention_map.shape == (3, 64, 64)
    np.testing.assert_allclose(b.saliency.max(1), 1, rtol=1e-6)
    np.testing.assert_allclose(b.attention_map.max(axis=(1, 2)), 1, rtol=1e-6)
    assert (b.saliency >= 0).all() and b.saliency[:, NPIX - 1].max() == 0  # the dropped last pixel
    scored = next(predictor.predict(flux, ivar, cubes)).p_bhb
    np.testing.assert_allclose(b.p_bhb, scored, rtol=1e-5)


def test_weights_only_explanations_need_no_gradients(checkpoint):
    flux, ivar, cubes = _raw(3)
    predictor = Predictor(checkpoint, device="cpu")
    (light,) = list(predictor.predict(flux, ivar, cubes, explain="weights"))
    (full,) = list(predictor.predict(flux, ivar, cubes, explain=True))
    assert light.saliency is None and light.attention_map is None
    for key in ("p_bhb", "segment_weights", "band_weights", "cross_attention", "cls_attention"):
        np.testing.assert_allclose(getattr(light, key), getattr(full, key), rtol=1e-5, atol=1e-7)
    assert light.image_grid == (4, 4)
    with pytest.raises(ValueError, match="explain must be"):
        next(predictor.predict(flux, ivar, cubes, explain="saliency"))


def test_explain_one_is_the_batch_result_for_that_star(checkpoint):
    flux, ivar, cubes = _raw(2)
    predictor = Predictor(checkpoint, device="cpu")
    one = predictor.explain_one(flux[1], ivar[1], cubes[1])
    (b,) = list(predictor.predict(flux, ivar, cubes, explain=True))
    assert one.p_bhb == pytest.approx(float(b.p_bhb[1]), rel=1e-5)
    np.testing.assert_allclose(one.saliency, b.saliency[1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(one.attention_map, b.attention_map[1], rtol=1e-4, atol=1e-6)
    assert one.segment_weights.shape == (7,) and one.model_name == "batmm"


def test_spectrum_only_model_needs_no_cutouts(tmp_path):
    save_checkpoint(tmp_path, build_model("spectrum_vgg1d_sa", "tiny"),
                    {"preprocess": Preprocessor(np.zeros(5), np.ones(5)).to_config()})
    flux, ivar, _ = _raw(2)
    one = Predictor(tmp_path, device="cpu").explain_one(flux[0], ivar[0], None)
    assert one.attention_map is None and one.band_weights is None
    assert one.saliency.shape == (NPIX,) and one.segment_weights.shape == (7,)


def test_batchnorm_fusion_keeps_the_function():
    from bhb_viewer.ml.inference import fuse_batchnorm
    from bhb_viewer.ml.models import example_inputs

    torch.manual_seed(0)
    model = build_model("vgg1d_fusion", "tiny")
    model.train()
    spectrum, image = example_inputs(8)
    with torch.no_grad():
        model(spectrum, image)  # give BatchNorm non-trivial running statistics
    model.eval()
    with torch.no_grad():
        before = model(spectrum, image)["logits"]
        fused = fuse_batchnorm(model)
        after = fused(spectrum, image)["logits"]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(before, after, rtol=1e-4, atol=1e-5)


def test_models_without_cls_token_map_the_cutout_by_gradient(tmp_path):
    save_checkpoint(tmp_path, build_model("early_concat", "tiny"),
                    {"preprocess": Preprocessor(np.zeros(5), np.ones(5)).to_config()})
    flux, ivar, cubes = _raw(2)
    (b,) = list(Predictor(tmp_path, device="cpu").predict(flux, ivar, cubes, explain=True))
    assert b.cls_attention is None and b.cross_attention is None
    assert b.attention_map.shape == (2, 64, 64) and b.saliency.shape == (2, NPIX)
    np.testing.assert_allclose(b.attention_map.max(axis=(1, 2)), 1, rtol=1e-6)
    assert b.band_weights.shape == (2, 5) and b.segment_weights.shape == (2, 7)


@pytest.fixture(scope="module")
def staged_checkpoint(tmp_path_factory):
    """A BATMM checkpoint that says its encoder heads were trained in stages 1–2 (as fit() writes)."""
    path = tmp_path_factory.mktemp("staged")
    torch.manual_seed(1)
    model = build_model("batmm", "tiny", n_layers=1)
    save_checkpoint(path, model, {"preprocess": Preprocessor(np.zeros(5), np.ones(5)).to_config(),
                                  "training": {"stages": None, "finetune": False}})
    return path


def test_every_modality_is_scored_and_missing_ones_fall_back(staged_checkpoint):
    flux, ivar, cubes = _raw(6, seed=3)
    ivar[1] = 0  # no usable spectrum: scored from the cutout
    cubes[2] = np.nan  # no cutout: scored from the spectrum
    ivar[3] = 0
    cubes[3] = 0  # neither
    predictor = Predictor(staged_checkpoint, device="cpu")
    assert predictor.heads == ("spectrum", "image")
    batch = next(predictor.predict(flux, ivar, cubes, batch_size=6))
    assert set(batch.scores()) == {"p_bhb", "p_bhb_spectrum", "p_bhb_image", "score_from"}
    assert batch.score_from.tolist() == ["fusion", "image", "spectrum", "none", "fusion", "fusion"]
    pre, model = predictor.preprocessor, predictor.model
    with torch.no_grad():
        s = torch.from_numpy(pre.spectra(flux, ivar))
        i = torch.from_numpy(pre.images(np.nan_to_num(cubes)))
        p_s = torch.softmax(model(s, None, stage="spectrum")["logits"], 1)[:, 1].numpy()
        p_i = torch.softmax(model(None, i, stage="image")["logits"], 1)[:, 1].numpy()
    np.testing.assert_allclose(batch.p_bhb_spectrum[[0, 2, 4, 5]], p_s[[0, 2, 4, 5]], rtol=1e-4)
    np.testing.assert_allclose(batch.p_bhb_image[[0, 1, 4, 5]], p_i[[0, 1, 4, 5]], rtol=1e-4)
    assert np.isnan(batch.p_bhb_spectrum[[1, 3]]).all() and np.isnan(batch.p_bhb_image[[2, 3]]).all()
    assert (
        batch.p_bhb[1] == batch.p_bhb_image[1]
        and batch.p_bhb[2] == batch.p_bhb_spectrum[2]
        and np.isnan(batch.p_bhb[3])
    )
    # a catalogue with spectra only is still scored, by the spectrum head
    only = next(predictor.predict(flux, ivar, None, batch_size=6))
    assert set(only.score_from.tolist()) <= {"spectrum", "none"} and np.isfinite(only.p_bhb[[0, 2]]).all()
    one = predictor.explain_one(flux[0], ivar[0], cubes[0])
    assert one.score_from == "fusion" and 0 < one.p_bhb_spectrum < 1 and 0 < one.p_bhb_image < 1


def test_heads_are_not_trusted_without_a_training_record_or_after_finetuning(checkpoint):
    from bhb_viewer.ml.inference import trusted_heads

    assert Predictor(checkpoint, device="cpu").heads == ()
    assert trusted_heads({"training": {"stages": None, "finetune": True}}, ("spectrum", "image")) == ()
    assert trusted_heads({"training": {"stages": ["spectrum", "fusion"]}}, ("spectrum", "image")) == ("spectrum",)
    flux, ivar, _ = _raw(2)
    with pytest.raises(ValueError, match="needs spectrum and image"):
        next(Predictor(checkpoint, device="cpu").predict(flux, ivar, None))


def test_explain_one_measures_band_and_segment_importance(checkpoint):
    """Issue 21: the viewer's explanation carries measured importance beside the model's own weights."""
    flux, ivar, cubes = _raw(1)
    predictor = Predictor(checkpoint, device="cpu")
    one = predictor.explain_one(flux[0], ivar[0], cubes[0])
    assert one.segment_importance.shape == (7,) and one.band_importance.shape == (5,)
    assert np.isfinite(one.segment_importance).all() and np.isfinite(one.band_importance).all()
    assert predictor.explain_one(flux[0], ivar[0], cubes[0], measured=False).band_importance is None
    # the cutout's occlusion map comes with the maps: one ΔP per 8×8 patch, what one forward pass per patch gives
    assert one.occlusion.shape == (8, 8) and np.isfinite(one.occlusion).all()
    patched = cubes[:1].copy()
    background = band_background(cubes[:1], np.random.default_rng(0))
    patched[:, :, 24:32, 32:40] = background[:, :, 24:32, 32:40]
    score = predictor.score_fn(None)
    expected = score(flux[:1], ivar[:1], cubes[:1])[0] - score(flux[:1], ivar[:1], patched)[0]
    assert one.occlusion[3, 4] == pytest.approx(expected, abs=1e-5)
    assert predictor.explain_one(flux[0], ivar[0], cubes[0], maps=False).occlusion is None
