"""Catalogue colours reach the model (issue 19, 4b): features, the colour token, training, scoring without cutouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from astropy.table import MaskedColumn, Table
from tinysky import make_dataset

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.grid import NPIX
from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes, fill_missing_bands, missing_magnitude_columns
from bhb_viewer.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from bhb_viewer.ml.inference import SCORE_SOURCES, Predictor
from bhb_viewer.ml.models import build_model, make_arch
from bhb_viewer.ml.photometry import DEFAULT_ERROR, N_FEATURES, ColourScaler, colour_columns
from bhb_viewer.ml.preprocess import Preprocessor
from bhb_viewer.ml.training import BAND_DROP, IMAGE_DROP, TrainConfig, drop_inputs, fit, stage_modalities

MAGS = np.array([[18.2, 17.0, 17.2, 17.3, 17.35, 0.03, 0.01, 0.01, 0.02, 0.04],
                 [19.0, 18.0, 18.1, np.nan, np.nan, 0.05, 0.02, 0.02, np.nan, np.nan],
                 [np.nan, 16.0, 16.2, 16.3, 16.4, np.nan, np.nan, 0.01, 0.01, 0.01]])
SCALER = ColourScaler(np.array([1.0, -0.2, -0.1, -0.05], np.float32), np.array([0.2, 0.1, 0.05, 0.05], np.float32))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def colour_set(tmp_path_factory):
    """160 stars whose classes differ only in u−g (16-pixel cutouts)."""
    return make_dataset(tmp_path_factory.mktemp("colours") / "set", n=160, size=16, seed=4, photometry=True)


def _raw(n, seed=0, size=16):
    rng = np.random.default_rng(seed)
    flux = rng.normal(50, 5, size=(n, NPIX)).astype(np.float32)
    return flux, np.ones_like(flux), rng.lognormal(0, 1, size=(n, 5, size, size)).astype(np.float32)


def _mags(n, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.uniform(16, 19, n)
    colours = np.column_stack([rng.normal(1.1, 0.1, n), rng.normal(-0.2, 0.05, n), rng.normal(-0.1, 0.05, n),
                               rng.normal(-0.05, 0.05, n)])
    bands = np.column_stack([g + colours[:, 0], g, g - colours[:, 1], g - colours[:, 1] - colours[:, 2],
                             g - colours[:, 1] - colours[:, 2] - colours[:, 3]])
    return np.column_stack([bands, rng.uniform(0.01, 0.05, (n, 5))])


def _save(path, model, scaler, training=None):
    pre = Preprocessor(np.full(5, 0.3), np.full(5, 0.1), cutout_size=16, photometry=scaler)
    save_checkpoint(path, model, {"preprocess": pre.to_config(), **({"training": training} if training else {})})
    return path


@pytest.fixture(scope="module")
def colour_checkpoint(tmp_path_factory):
    """An untrained tiny BATMM with photometry whose spectrum and image heads count as trained."""
    torch.manual_seed(2)
    model = build_model("batmm", "tiny", cutout_size=16, photometry=True)
    return _save(tmp_path_factory.mktemp("colour_ckpt"), model, SCALER, {"stages": None, "finetune": False})


# --------------------------------------------------------------------------- catalogue magnitudes
def test_catalog_magnitudes_read_both_namings_and_mark_what_is_missing():
    table = Table(
        {
            "psfMag_u": [18.5, -9999.0],
            "psfMagErr_u": [0.03, 0.2],
            "g": MaskedColumn([17.0, 16.0], mask=[False, True]),
            "g_err": [0.01, 0.01],
            "r": [16.8, 15.9],
            "r_err": [0.0, np.inf],
        }
    )
    mags = catalog_magnitudes(table)
    assert mags.shape == (2, 15) and np.isnan(mags[:, 10:]).all()  # no extinction given
    np.testing.assert_array_equal(mags[0, :3], [18.5, 17.0, 16.8])
    assert np.isnan(mags[1, 0]) and np.isnan(mags[1, 1]) and mags[1, 2] == 15.9  # -9999 and a masked cell
    assert mags[0, 5] == 0.03 and np.isnan(mags[:, 7]).all()  # an error of 0 or infinity is no error
    assert np.isnan(mags[:, [3, 4, 8, 9]]).all()  # i, z absent
    assert missing_magnitude_columns(table) == ["i", "z", "i_err", "z_err"]
    filled = fill_missing_bands(mags, np.arange(20.0).reshape(2, 10))  # e.g. synthesised from a spectrum
    np.testing.assert_array_equal(filled[1, [0, 1, 5, 6]], [10, 11, 15, 16])  # magnitude and error together
    assert filled[1, 2] == 15.9 and filled[0, 7] != filled[0, 7]  # r kept with its own (missing) error


def test_extinction_comes_from_sdss_columns_or_a_dust_maps_ebv_and_is_zero_once_corrected():
    table = Table({"u": [18.5, 18.0], "g": [17.0, 17.1], "extinction_u": [0.2, -9999.0], "ebv": [0.05, 0.02]})
    ext = catalog_magnitudes(table)[:, 10:]
    assert ext[0, 0] == 0.2 and np.isnan(ext[1, 0])  # SDSS's own column wins; a negative is "no value"
    np.testing.assert_allclose(ext[:, 1], [3.793 * 0.05, 3.793 * 0.02])  # g from E(B−V) × SDSS's coefficient
    table.meta["extinction_corrected"] = True
    assert (catalog_magnitudes(table)[:, 10:] == 0).all()
    mine = np.full((1, 15), np.nan)
    mine[0, :2] = [18.0, 17.0]
    filled = fill_missing_bands(mine, catalog_magnitudes(table)[:1])
    assert (filled[0, 10:] == 0).all() and filled[0, 0] == 18.0  # extinction filled, magnitudes kept


def test_a_dereddened_scaler_removes_the_extinction_and_an_old_one_reads_observed_colours():
    reddened = np.column_stack([MAGS[:1], [[0.5, 0.4, 0.3, 0.2, 0.1]]])
    new = ColourScaler(SCALER.mean, SCALER.std, dereddened=True)
    np.testing.assert_allclose(
        new.features(reddened)[0, :4], SCALER.features(MAGS[:1])[0, :4] - 0.1 / SCALER.std, atol=1e-5
    )
    np.testing.assert_array_equal(SCALER.features(reddened), SCALER.features(MAGS[:1]))  # trained on observed colours
    unknown = reddened.copy()
    unknown[:, 10:] = np.nan
    np.testing.assert_array_equal(new.features(unknown), SCALER.features(MAGS[:1]))  # no extinction: observed
    config = new.to_config()
    assert (
        ColourScaler.from_config(config).dereddened
        and not ColourScaler.from_config({**config, "dereddened": False}).dereddened
    )
    del config["dereddened"]
    assert not ColourScaler.from_config(config).dereddened  # a checkpoint from before reads as it was trained


# --------------------------------------------------------------------------- features
def test_features_are_colours_never_magnitudes():
    features = SCALER.features(MAGS)
    assert features.shape == (3, N_FEATURES) and features.dtype == np.float32
    np.testing.assert_allclose(features[0, :4], [(1.2 - 1.0) / 0.2, (-0.2 + 0.2) / 0.1, (-0.1 + 0.1) / 0.05,
                                                 (-0.05 + 0.05) / 0.05], atol=1e-5)
    # the same star 1 mag fainter in every band has the same features
    fainter = MAGS.copy()
    fainter[:, :5] += 1.0
    np.testing.assert_array_equal(SCALER.features(fainter), features)
    np.testing.assert_allclose(features[0, 8], np.hypot(0.03, 0.01), rtol=1e-6)


def test_missing_bands_are_flagged_and_dropping_i_z_is_the_same_as_not_having_them():
    features = SCALER.features(MAGS)
    np.testing.assert_array_equal(features[1, 4:8], [1, 1, 0, 0])  # no i, z: r−i and i−z absent
    np.testing.assert_array_equal(features[1, [2, 3, 10, 11]], 0)
    np.testing.assert_array_equal(features[2, 4:8], [0, 1, 1, 1])  # no u
    np.testing.assert_allclose(features[2, 9], np.hypot(DEFAULT_ERROR, 0.01), rtol=1e-6)  # g had no error
    dropped = SCALER.features(MAGS[:1]).copy()
    dropped[:, colour_columns(("i", "z"))] = 0
    no_iz = MAGS[:1].copy()
    no_iz[:, [3, 4, 8, 9]] = np.nan
    np.testing.assert_array_equal(dropped, SCALER.features(no_iz))


def test_colour_statistics_come_from_the_rows_that_have_them_and_round_trip_as_json():
    scaler = ColourScaler.fit(MAGS)
    np.testing.assert_allclose(scaler.mean, [(1.2 + 1.0) / 2, np.mean([-0.2, -0.1, -0.2]), -0.1, -0.075], atol=1e-6)
    pre = Preprocessor(np.zeros(5), np.ones(5), photometry=scaler)
    again = Preprocessor.from_config(json.loads(json.dumps(pre.to_config())))
    np.testing.assert_array_equal(again.colours(MAGS), pre.colours(MAGS))
    assert "photometry" not in Preprocessor(np.zeros(5), np.ones(5)).to_config()  # other checkpoints as before
    with pytest.raises(ValueError, match="positive stds"):
        ColourScaler.from_config({**scaler.to_config(), "colour_std": [1, 0, 1, 1]})


# --------------------------------------------------------------------------- model
def test_the_colour_token_is_a_fusion_stage_module_and_old_layouts_are_unchanged():
    assert make_arch("paper").photometry is False
    old = build_model("batmm", "tiny")
    new = build_model("batmm", "tiny", photometry=True)
    extra = set(new.state_dict()) - set(old.state_dict())
    assert extra and all(k.startswith("photometry_encoder.") for k in extra)
    assert new.semantic.weight.shape[0] == 3 and old.semantic.weight.shape[0] == 2
    fusion = {id(p) for p in new.stage_parameters("fusion")}
    assert all(id(p) in fusion for p in new.photometry_encoder.parameters())
    assert not {id(p) for p in new.photometry_encoder.parameters()} & {id(p) for p in new.stage_parameters("image")}
    with pytest.raises(ValueError, match="reads no photometry"):
        build_model("early_add", "tiny", photometry=True)


def test_a_colour_model_runs_without_cutouts_and_a_paper_model_does_not():
    torch.manual_seed(0)
    model = build_model("batmm", "tiny", cutout_size=16, photometry=True).eval()
    spectrum, image = torch.rand(2, NPIX), torch.randn(2, 5, 16, 16)
    colours = torch.from_numpy(SCALER.features(MAGS[:2]))
    with torch.no_grad():
        full = model(spectrum, image, photometry=colours)
        alone = model(spectrum, None, photometry=colours)
    k_i = model.k_i
    assert full["cls_attention"].shape[-1] == 1 + k_i + model.k_s + 1 and "cross_attention" in full
    assert alone["cls_attention"].shape[-1] == 1 + model.k_s + 1 and "cross_attention" not in alone
    assert torch.isfinite(alone["logits"]).all() and not torch.allclose(alone["logits"], full["logits"])
    with pytest.raises(ValueError, match="photometry input"):
        model(spectrum, image)
    with pytest.raises(ValueError, match="image input"):
        build_model("batmm", "tiny", cutout_size=16)(spectrum, None)


def test_checkpoint_round_trip_and_a_mismatch_is_refused(colour_checkpoint, tmp_path):
    model, config = load_checkpoint(colour_checkpoint)
    assert config["model"]["arch"]["photometry"] is True and config["preprocess"]["photometry"]["features"] == "colours"
    twin, _ = load_checkpoint(colour_checkpoint)
    spectrum, image = torch.rand(3, NPIX), torch.randn(3, 5, 16, 16)
    colours = torch.from_numpy(SCALER.features(MAGS))
    with torch.no_grad():
        torch.testing.assert_close(model(spectrum, image, photometry=colours)["logits"],
                                   twin(spectrum, image, photometry=colours)["logits"], rtol=0, atol=0)
    plain = _save(tmp_path / "plain", build_model("batmm", "tiny", cutout_size=16), SCALER)
    with pytest.raises(CheckpointError, match="disagree"):
        load_checkpoint(plain)


# --------------------------------------------------------------------------- inference
def test_rows_without_cutouts_are_scored_from_spectrum_and_colours(colour_checkpoint):
    flux, ivar, cubes = _raw(5, seed=1)
    mags = _mags(5, seed=1)
    cubes[[1, 2, 3]] = 0  # no cutouts
    mags[2, 1] = np.nan  # ... and no g, which its spectrum (masked bluewards of 5,800 Å) cannot give: the spectrum head
    ivar[2, :1600] = 0
    ivar[3] = 0  # ... and no spectrum either: nothing
    predictor = Predictor(colour_checkpoint, device="cpu")
    batch = next(predictor.predict(flux, ivar, cubes, batch_size=5, mags=mags))
    assert "spectrum+photometry" in SCORE_SOURCES
    assert batch.score_from.tolist() == ["fusion", "spectrum+photometry", "spectrum", "none", "fusion"]
    pre, model = predictor.preprocessor, predictor.model
    with torch.no_grad():
        s = torch.from_numpy(pre.spectra(flux, ivar))
        c = torch.from_numpy(pre.colours(mags))
        p_alone = torch.softmax(model(s, None, photometry=c)["logits"], 1)[:, 1].numpy()
        p_full = torch.softmax(model(s, torch.from_numpy(pre.images(cubes)), photometry=c)["logits"], 1)[:, 1].numpy()
        p_head = torch.softmax(model(s, None, stage="spectrum")["logits"], 1)[:, 1].numpy()
    np.testing.assert_allclose(batch.p_bhb[[0, 4]], p_full[[0, 4]], rtol=1e-5)
    np.testing.assert_allclose(batch.p_bhb[1], p_alone[1], rtol=1e-5)
    np.testing.assert_allclose(batch.p_bhb_spectrum[[1, 2]], p_head[[1, 2]], rtol=1e-4)  # the pure head, unchanged
    assert np.isnan(batch.p_bhb_image[1]) and np.isnan(batch.p_bhb[3])
    # without catalogue magnitudes a row takes g, r, i from its spectrum; one masked bluewards cannot give g
    plain = next(predictor.predict(flux, ivar, cubes, batch_size=5))
    assert plain.score_from.tolist()[1:3] == ["spectrum+photometry", "spectrum"]


def test_explanations_of_rows_without_cutouts_are_their_own_pass(colour_checkpoint):
    flux, ivar, cubes = _raw(3, seed=2)
    cubes[1] = 0
    predictor = Predictor(colour_checkpoint, device="cpu")
    mags = _mags(3, seed=2)
    scores = next(predictor.predict(flux, ivar, cubes, mags=mags)).p_bhb
    k_i = predictor.model.k_i
    for explain in (True, "weights"):
        batch = next(predictor.predict(flux, ivar, cubes, mags=mags, explain=explain))
        assert batch.score_from.tolist() == ["fusion", "spectrum+photometry", "fusion"]
        np.testing.assert_allclose(batch.p_bhb, scores, rtol=1e-5)
        assert np.isnan(batch.band_weights[1]).all() and np.isfinite(batch.band_weights[[0, 2]]).all()
        assert (batch.cls_attention[1, ..., 1 : 1 + k_i] == 0).all()
        np.testing.assert_allclose(batch.cls_attention[1].sum(axis=-1), 1, rtol=1e-5)
        assert np.isnan(batch.cross_attention[1]).all() and np.isfinite(batch.segment_weights).all()
        if explain is True:
            assert np.isnan(batch.attention_map[1]).all() and np.isfinite(batch.attention_map[[0, 2]]).all()
            assert batch.saliency[1].max() == pytest.approx(1.0)
    one = predictor.explain_one(flux[1], ivar[1], None, mags=mags[1])
    assert one.score_from == "spectrum+photometry" and one.p_bhb == pytest.approx(float(scores[1]), rel=1e-5)
    assert (
        np.isnan(one.attention_map).all()
        and np.isnan(one.band_weights).all()
        and one.saliency.max() == pytest.approx(1.0)
    )


def test_u_moves_a_colour_model_and_never_a_paper_model(colour_checkpoint, tiny_checkpoint):
    flux, ivar, _ = _raw(2, seed=3, size=64)
    mags = _mags(2, seed=3)
    redder = mags.copy()
    redder[:, 0] += 0.3
    colour = Predictor(colour_checkpoint, device="cpu")
    p = [next(colour.predict(flux, ivar, None, mags=m)).p_bhb for m in (mags, redder)]
    assert np.abs(p[0] - p[1]).min() > 1e-6
    _, _, cubes = _raw(2, seed=3, size=64)
    paper = Predictor(tiny_checkpoint, device="cpu")
    q = [next(paper.predict(flux, ivar, cubes, mags=m)).p_bhb for m in (mags, redder, None)]
    np.testing.assert_array_equal(q[0], q[1])
    np.testing.assert_array_equal(q[0], q[2])


# --------------------------------------------------------------------------- training
def test_inputs_are_dropped_from_seeded_shares_of_the_batches():
    batch = {"image": torch.ones(4, 5, 2, 2), "photometry": torch.ones(4, N_FEATURES), "label": torch.zeros(4)}
    outcomes = []
    for step in range(2000):
        out = drop_inputs(batch, (0, 2, 1, step))
        outcomes.append("image" if "image" not in out else "bands" if not out["photometry"].all() else "none")
        assert out.keys() >= {"photometry", "label"}
    share = {k: outcomes.count(k) / len(outcomes) for k in ("image", "bands")}
    assert abs(share["image"] - IMAGE_DROP) < 0.04 and abs(share["bands"] - BAND_DROP) < 0.03
    assert [("image" not in drop_inputs(batch, (0, 2, 1, s))) for s in range(20)] == [
        o == "image" for o in outcomes[:20]
    ]
    dropped = next(drop_inputs(batch, (0, 2, 1, s)) for s in range(100) if outcomes[s] == "bands")
    assert (dropped["photometry"][:, colour_columns(("i", "z"))] == 0).all() and batch["photometry"].all()
    model = build_model("batmm", "tiny", photometry=True)
    assert stage_modalities(model, "fusion") == ("spectrum", "image", "photometry")
    assert stage_modalities(model, "image") == ("image",)


def test_a_data_set_without_magnitudes_is_refused_by_name(tmp_path):
    plain = make_dataset(tmp_path / "nomags", n=40, size=16)
    config = TrainConfig(dataset=str(plain), model="batmm", size="tiny", epochs=1, batch_size=8, threads=1,
                         max_steps_per_epoch=1, model_overrides={"photometry": True}, out=str(tmp_path / "run"))
    with pytest.raises(ValueError, match=r"data set nomags .* column\(s\) u, r, i, z, u_err, g_err"):
        fit(config)


def test_bhb_train_photometry_then_score(colour_set, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--dataset", str(colour_set), "--out", str(run), "--model", "batmm", "--size", "tiny",
            "--epochs", "2", "--batch-size", "16", "--max-steps-per-epoch", "4", "--lr", "3e-3", "--threads", "1",
            "--photometry", "--finetune", "--progress-json"]
    assert main(args) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert events[-1]["event"] == "done" and 0 <= events[-1]["test_auc"] <= 1
    for stage in ("fusion", "full"):  # the stages that train the colour token, some batches without images
        assert sum(e["event"] == "progress" and e["stage"] == f"validate:{stage}" for e in events) == 2
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["arch"]["photometry"] is True and config["training"]["model_overrides"] == {
        "photometry": True
    }
    data = open_dataset(colour_set)
    mags = catalog_magnitudes(data.catalog)
    colours = config["preprocess"]["photometry"]
    assert 1.0 < colours["colour_mean"][0] < 1.15 and colours["colour_std"][0] > 0.1  # u−g of two classes

    out = tmp_path / "scores.ecsv"
    assert main(["score", str(colour_set), "--model", str(run), "--out", str(out), "--workers", "0", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["labels"] == "the data set's label column"  # what the printed F1 compared against
    table = Table.read(out, format="ascii.ecsv")
    assert set(table["score_from"]) == {"fusion"} and np.all((table["p_bhb"] > 0) & (table["p_bhb"] < 1))
    assert set(table["mags_synthesized"].filled("")) == {""}  # every band came from the catalogue
    # a list of ids takes its magnitudes from the data set; a list's own magnitudes win
    listed = data.catalog[["id", "ra", "dec", *(f"{b}{e}" for e in ("", "_err") for b in "ugriz")]][:10]
    listed[["id", "ra", "dec"]].write(tmp_path / "ids.csv", format="ascii.csv")
    listed["u"] += 0.25
    listed.write(tmp_path / "redder.csv", format="ascii.csv")
    scored = {}
    for name in ("ids", "redder"):
        assert main(["score", str(tmp_path / f"{name}.csv"), "--model", str(run), "--dataset", str(colour_set),
                     "--workers", "0", "--out", str(tmp_path / f"{name}.ecsv")]) == 0
        scored[name] = np.asarray(Table.read(tmp_path / f"{name}.ecsv", format="ascii.ecsv")["p_bhb"])
    np.testing.assert_allclose(scored["ids"], table["p_bhb"][:10], rtol=1e-5)
    assert np.abs(scored["redder"] - scored["ids"]).max() > 1e-4
    # the trained model reads u also without cutouts
    rows = np.arange(8)
    predictor = Predictor(run, device="cpu")
    redder = mags[rows].copy()
    redder[:, 0] += 0.25
    flux, ivar = (np.asarray(a[rows]) for a in (data.spectra, data.ivar))
    p, q = (next(predictor.predict(flux, ivar, None, mags=m)) for m in (mags[rows], redder))
    assert set(p.score_from) == {"spectrum+photometry"} and np.isfinite(p.p_bhb).all()
    assert np.abs(p.p_bhb - q.p_bhb).max() > 1e-4


def test_the_review_scores_a_list_without_cutouts_from_its_sdss_magnitudes(colour_checkpoint, tmp_path):
    from bhb_viewer.core.progress import CancelToken, no_progress
    from bhb_viewer.review.candidate_source import CandidateSource
    from bhb_viewer.review.tasks import PredictorHolder, ScoreBatch, score_task

    flux, ivar, _ = _raw(4, seed=5)
    mags = _mags(4, seed=5)
    mags[3, 2] = np.nan  # no r
    table = Table({"id": [f"c{i}" for i in range(4)],
                   **{f"psfMag_{b}": mags[:, j] for j, b in enumerate("ugriz")},
                   **{f"psfMagErr_{b}": mags[:, 5 + j] for j, b in enumerate("ugriz")}})
    source = CandidateSource(table, tmp_path, tmp_path, flux, ivar)
    job = score_task(PredictorHolder(colour_checkpoint, "cpu"), source, None, np.arange(4))
    batches = [b for b in job(CancelToken(), no_progress) if isinstance(b, ScoreBatch)]
    # the star without r gets it from its spectrum (it covers the r filter), so it too is scored with colours
    assert np.concatenate([b.score_from for b in batches]).tolist() == ["spectrum+photometry"] * 4
    direct = next(Predictor(colour_checkpoint, device="cpu").predict(flux, ivar, None, mags=mags)).p_bhb
    np.testing.assert_allclose(np.concatenate([b.p_bhb for b in batches]), direct, rtol=1e-5)


def test_magnitudes_from_spectra_fill_only_the_bands_the_catalogue_lacks():
    from bhb_viewer.ml.inference import prepare_inputs

    flux, ivar, _ = _raw(2)
    pre = Preprocessor(np.zeros(5), np.ones(5), cutout_size=16, photometry=SCALER)
    given = MAGS[1:3]  # no i, z; no u

    def synthesised(f, iv):
        assert f.shape == (2, NPIX) and iv is not None
        return MAGS[:1].repeat(2, axis=0)

    inputs = prepare_inputs(pre, ("spectrum", "image"), flux, ivar, None, given, mags_from_spectra=synthesised)
    expected = given.copy()
    expected[0, [3, 4, 8, 9]] = MAGS[0, [3, 4, 8, 9]]
    expected[1, [0, 5]] = MAGS[0, [0, 5]]
    np.testing.assert_array_equal(inputs.photometry.numpy(), SCALER.features(expected))
    assert inputs.has_colours.all() and not inputs.has_image.any()


def test_bands_a_candidate_lacks_are_synthesised_from_its_spectrum_and_named():
    from bhb_viewer.core.sim import simulate
    from bhb_viewer.ml.scoring import _with_synthesised

    sky = simulate(40, seed=8, with_cutouts=False)
    given = catalog_magnitudes(sky.catalog)
    given[:20, [3, 8]] = np.nan  # half the list has no i
    given[:5, [0, 5]] = np.nan  # a few have no u either
    filled, provenance = _with_synthesised(given, sky.spectra, sky.ivar)
    names = provenance["mags_synthesized"]
    assert names[:5].tolist() == ["i"] * 5  # u cannot come from a 4,000–9,000 Å spectrum
    assert names[5:20].tolist() == ["i"] * 15 and set(names[20:]) == {""}
    np.testing.assert_array_equal(filled[20:], given[20:])
    # the spectrum's r − i follows the catalogue's (fibre flux and flux calibration allow a few hundredths)
    catalogue_ri = np.asarray(sky.catalog["r"]) - np.asarray(sky.catalog["i"])
    assert abs(np.median(filled[:20, 2] - filled[:20, 3] - catalogue_ri[:20])) < 0.1
    assert np.all(np.isnan(filled[:5, 0])) and np.all(filled[5:20, 8] > 0)
