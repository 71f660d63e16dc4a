"""Issue 20 through the commands: a real galaxy is flagged and never model-accepted; stars of the
training sky's kind are not flagged; an old checkpoint still scores and says what it lacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from astropy.table import Table

from bhb_viewer.cli import main as bhb
from bhb_viewer.core.exports.export import export_table, read_provenance, write_table
from bhb_viewer.core.science.trust import is_ood

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "batmm-lite-sim"
GALAXY = ROOT / "tests" / "data" / "spSpec-53166-1615-104.fit"


def _summary(capsys) -> dict:
    return json.loads([line for line in capsys.readouterr().out.splitlines() if line.startswith('{"event"')][-1])


def test_the_real_galaxy_is_flagged_and_not_model_accepted(tmp_path, capsys):
    (tmp_path / "spectra").mkdir()
    shutil.copy(GALAXY, tmp_path / "spectra" / GALAXY.name)
    Table({"id": ["galaxy", "other"], "ra": [150.0, 151.0], "dec": [2.0, 2.5],
           "spectrum_file": [GALAXY.name, GALAXY.name]}).write(tmp_path / "cat.ecsv")
    assert bhb(["dataset", "build", "--catalog", str(tmp_path / "cat.ecsv"), "--spectra", str(tmp_path / "spectra"),
                "--out", str(tmp_path / "ds"), "--partial"]) == 0
    assert bhb(["score", str(tmp_path / "ds"), "--model", str(SHIPPED), "--out", str(tmp_path / "s.ecsv"),
                "--workers", "0", "--json"]) == 0
    summary = _summary(capsys)
    assert summary["flagged_ood"] == 2 and summary["training_sky"] is True
    scores = Table.read(tmp_path / "s.ecsv")
    flags = str(scores["flags"][0]).split(";")
    assert {"ood:poor-fit", "ood:emission", "ood:grid-edge"} <= set(flags)  # χ²_ν 3.9, [O III]/Hα, 6,000 K edge
    assert scores["chi2_fit"][0] > 3.0 and scores["teff_fit"][0] < 6100
    # the old model gave it P(BHB) 0.67: even at that score a model-accepted export leaves it out,
    # while a person's "bhb" verdict on the other copy still wins
    scores["p_bhb"] = [0.67, 0.67]
    out = export_table(scores, selection="model-accepted", cut=0.5)
    assert len(out) == 0 and "scores flagged" in out.meta["OODRULE"]
    unflagged = scores.copy()
    unflagged.remove_column("flags")
    assert len(export_table(unflagged, selection="model-accepted", cut=0.5)) == 2
    path = write_table(out, tmp_path / "accepted.fits")
    assert "OODRULE" in read_provenance(path)


def test_stars_of_the_training_sky_are_rarely_flagged_and_an_old_checkpoint_still_scores(tmp_path, capsys):
    for n, seed, name in ((600, 1, "train"), (300, 2, "fresh")):
        assert bhb(["simulate", "--n", str(n), "--seed", str(seed), "--out", str(tmp_path / name)]) == 0
    old = tmp_path / "old-model"
    shutil.copytree(SHIPPED, old)
    for name in ("training_sky.json", "embedding_stats.safetensors"):
        (old / name).unlink()
    capsys.readouterr()
    assert (
        bhb(["score", str(tmp_path / "fresh"), "--model", str(old), "--out", str(tmp_path / "old.ecsv"), "--json"]) == 0
    )
    assert _summary(capsys)["training_sky"] is False
    old_scores = Table.read(tmp_path / "old.ecsv")
    assert "embedding_distance" not in old_scores.colnames and "logg_fit" in old_scores.colnames

    assert bhb(["describe-sky", str(old), "--data", str(tmp_path / "train"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (
        record["embedding"] is True
        and record["n_stars"] == 600
        and {"u_g", "g", "snr", "logg_fit"} <= set(record["ranges"])
    )
    assert (
        bhb(["score", str(tmp_path / "fresh"), "--model", str(old), "--out", str(tmp_path / "new.ecsv"), "--json"]) == 0
    )
    summary = _summary(capsys)
    scores = Table.read(tmp_path / "new.ecsv")
    column = scores["flags"]
    flags = np.asarray(column.filled("") if hasattr(column, "filled") else column).astype(str)
    assert summary["flagged_ood"] == int(is_ood(flags).sum()) <= 3  # ≤ 1 % of 300
    assert np.isfinite(scores["embedding_distance"]).all()
    assert np.array_equal(np.asarray(scores["p_bhb"]), np.asarray(old_scores["p_bhb"]))  # flags never change a score
