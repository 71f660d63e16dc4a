"""bhb train / evaluate / score end to end on a tiny simulated data set (tiny model, one epoch)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from astropy.table import Table

from bhb_viewer.cli import main
from bhb_viewer.core.sim import write_simulated


@pytest.fixture(scope="module")
def tiny_sim(tmp_path_factory):
    before = torch.get_num_threads()
    yield write_simulated(tmp_path_factory.mktemp("cli") / "sim", n=60, seed=5, cutout_size=16)
    torch.set_num_threads(before)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


TRAIN = [
    "--model", "batmm", "--size", "tiny", "--epochs", "1", "--batch-size", "8", "--max-steps-per-epoch", "2",
    "--threads", "1",
]


def test_train_then_score_dataset_and_catalog(tiny_sim, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(tiny_sim), "--out", str(run), "--progress-json", *TRAIN]) == 0
    lines = _json_lines(capsys.readouterr().out)
    assert {"train:spectrum", "train:image", "train:fusion"} <= {e["stage"] for e in lines if e["event"] == "progress"}
    done = lines[-1]
    assert done["event"] == "done" and done["run_dir"] == str(run) and 0 <= done["test_macro"]["f1"] <= 1
    # the trust flags' record
    assert (run / "training_sky.json").is_file() and (run / "embedding_stats.safetensors").is_file()
    assert (run / "weights.safetensors").is_file() and (run / "validation.json").is_file()

    out = tmp_path / "scores.ecsv"
    assert main(["score", str(tiny_sim), "--model", str(run), "--out", str(out), "--json"]) == 0
    summary = _json_lines(capsys.readouterr().out)[-1]
    assert summary["scored"] == 60 and set(summary["macro"]) == {"precision", "recall", "f1"}
    table = Table.read(out, format="ascii.ecsv")
    for col in ("id", "label", "p_bhb", "model", "model_version", "d02", "fm", "b_hg", "c_hg", "classical_bhb"):
        assert col in table.colnames, col
    assert np.all((table["p_bhb"] >= 0) & (table["p_bhb"] <= 1)) and table["model"][0] == "batmm"
    # every modality's score, and which one p_bhb is
    assert set(table["score_from"]) == {"fusion"}
    assert np.all(
        (table["p_bhb_spectrum"] > 0)
        & (table["p_bhb_spectrum"] < 1)
        & (table["p_bhb_image"] > 0)
        & (table["p_bhb_image"] < 1)
    )
    # the checkpoint names its data set and hash, not a path of this machine
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"]["name"] == "sim" and config["dataset"]["manifest_sha256"] == config["dataset_hash"]
    assert str(tmp_path) not in json.dumps(config) and str(tiny_sim) not in json.dumps(config)
    assert config["preprocess"]["image"]["scale"] == "ratio_asinh"

    # a catalog of some of the data set's stars, scored through the data set that holds them
    catalog = Table.read(tiny_sim / "catalog.ecsv", format="ascii.ecsv")[["id", "ra", "dec", "label"]][:10]
    catalog.write(tmp_path / "list.csv", format="ascii.csv")
    assert main(["score", str(tmp_path / "list.csv"), "--model", str(run), "--dataset", str(tiny_sim),
                 "--out", str(tmp_path / "list_scored.fits")]) == 0
    scored = Table.read(tmp_path / "list_scored.fits")
    assert len(scored) == 10
    np.testing.assert_allclose(scored["p_bhb"], table["p_bhb"][:10], rtol=1e-5)
    capsys.readouterr()

    # without a data set a catalog has nothing to score: a clear error, exit 1
    assert main(["score", str(tmp_path / "list.csv"), "--model", str(run), "--out", str(tmp_path / "x.csv")]) == 1
    assert "holds no spectra or cutouts" in capsys.readouterr().err

    # a data set cut at another cutout size than the model's: an error naming the data set, exit 1
    other = write_simulated(tmp_path / "sim32", n=8, seed=6, cutout_size=32)
    assert main(["score", str(other), "--model", str(run), "--out", str(tmp_path / "y.csv")]) == 1
    err = capsys.readouterr().err
    assert f"error: {other}:" in err and "cutouts must be" in err and "16" in err


def test_train_needs_a_dataset_and_an_out_dir(capsys):
    assert main(["train", "--model", "batmm"]) == 1
    assert "--dataset" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--batch-size", "0"], "--batch-size must be an integer ≥ 1, got 0"),
    (["--epochs", "-1"], "--epochs must be an integer ≥ 1, got -1"),
    (["--device", "cuda:7"], "--device cuda:7: this machine has"),
    (["--device", "banana"], "is not a device name"),
    (["--lr", "0"], "--lr must be > 0"),
])
def test_train_refuses_impossible_settings_before_starting(tiny_sim, tmp_path, capsys, flags, message):
    assert main(["train", "--dataset", str(tiny_sim), "--out", str(tmp_path / "run"), *flags]) == 1
    assert message in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_train_refuses_an_out_that_is_a_file(tiny_sim, tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    assert main(["train", "--dataset", str(tiny_sim), "--out", str(tmp_path / "taken")]) == 1
    assert "--out names a file" in capsys.readouterr().err


def test_evaluate_prints_table8_and_writes_files(tiny_sim, tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate", "--dataset", str(tiny_sim), "--models", "classical,svm,early_add", "--seeds", "2", "--size",
            "tiny", "--epochs", "1", "--batch-size", "8", "--max-steps-per-epoch", "2", "--threads", "1", "--out",
            str(out), "--json",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "Balmer cuts" in text and "SVM" in text and "Early Add" in text and "± " in text
    summary = _json_lines(text)[-1]
    assert summary["event"] == "evaluation" and set(summary["models"]) == {"classical", "svm", "early_add"}
    assert (out / "table8.csv").is_file() and (out / "runs" / "early_add-seed1" / "weights.safetensors").is_file()


def test_train_init_from_fine_tunes_the_fusion_of_a_checkpoint(tiny_sim, tmp_path, capsys):
    from safetensors.torch import load_file

    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert main(["train", "--dataset", str(tiny_sim), "--out", str(base), *TRAIN]) == 0
    assert main(["train", "--dataset", str(tiny_sim), "--out", str(tuned), "--init-from", str(base), "--progress-json",
                 *TRAIN]) == 0
    stages = {e["stage"] for e in _json_lines(capsys.readouterr().out) if e["event"] == "progress"}
    assert {s for s in stages if s.startswith("train:")} == {"train:fusion"}  # the encoders stay frozen by default
    before, after = load_file(str(base / "weights.safetensors")), load_file(str(tuned / "weights.safetensors"))
    encoder = [k for k in before if k.startswith(("spectrum_encoder.", "image_encoder."))]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in encoder)
    config, base_config = (json.loads((d / "config.json").read_text()) for d in (tuned, base))
    assert config["preprocess"] == base_config["preprocess"]  # the checkpoint's own scaling, not refitted
    assert config["training"]["init_from"] == "base" and config["training"]["freeze"] == "encoders"

    # --freeze none trains end to end; another size is refused, naming the checkpoint's
    assert main(["train", "--dataset", str(tiny_sim), "--out", str(tmp_path / "e2e"), "--init-from", str(base),
                 "--freeze", "none", "--progress-json", *TRAIN]) == 0
    stages = {e["stage"] for e in _json_lines(capsys.readouterr().out) if e["event"] == "progress"}
    assert {s for s in stages if s.startswith("train:")} == {"train:full"}
    assert main(["train", "--dataset", str(tiny_sim), "--out", str(tmp_path / "bad"), "--init-from", str(base),
                 *TRAIN[:2], "--size", "lite", "--epochs", "1"]) == 2
    assert "cannot warm-start batmm (lite)" in capsys.readouterr().err


def test_train_base_mixes_the_models_own_sky_into_training_only(tiny_sim, tmp_path, capsys):
    base, mine, tuned = tmp_path / "base", tmp_path / "mine", tmp_path / "tuned"
    assert main(["train", "--dataset", str(tiny_sim), "--out", str(base), *TRAIN]) == 0
    write_simulated(mine, n=30, seed=7, cutout_size=16)  # the person's verdicts: 21 train, 6 validation, 3 test
    uncapped = [a for a in TRAIN if a not in ("--max-steps-per-epoch", "2")]
    capsys.readouterr()
    assert (
        main(
            [
                "train", "--dataset", str(mine), "--out", str(tuned), "--init-from", str(base), "--base", str(tiny_sim),
                "--progress-json", *uncapped,
            ]
        )
        == 0
    )
    steps = {e["total"] for e in _json_lines(capsys.readouterr().out) if e.get("stage") == "train:fusion"}
    assert steps == {(21 + 21) // 8}  # as many base stars as training stars; without them 21 // 8
    config = json.loads((tuned / "config.json").read_text())
    assert config["base"]["mixed"] == 21 and config["base"]["name"] == tiny_sim.name
    assert config["training"]["base"] == tiny_sim.name and config["dataset"]["name"] == "mine"
    test = json.loads((tuned / "test.json").read_text())
    assert len(test["label"]) == 3 and max(test["row"]) < 30  # tested on the person's own stars only

    # another data set than the checkpoint's training sky is refused, with the reason, unless --base-any
    args = ["train", "--dataset", str(mine), "--init-from", str(base), "--base", str(mine), *TRAIN]
    assert main([*args, "--out", str(tmp_path / "other")]) == 2
    assert "not the data set base was trained on" in capsys.readouterr().err
    assert main([*args, "--base-ratio", "0.5", "--base-any", "--out", str(tmp_path / "any")]) == 0
    assert json.loads((tmp_path / "any" / "config.json").read_text())["base"]["mixed"] == 10
    assert main(["train", "--dataset", str(mine), "--out", str(tmp_path / "x"), "--base", str(tiny_sim), *TRAIN]) == 1
    assert "give --init-from MODEL_DIR too" in capsys.readouterr().err
