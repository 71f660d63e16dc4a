"""``bhb explain`` (issue 21): measured importance and the
faithfulness test, on a data set and on a catalog with files."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from bhb_viewer.cli import main as bhb
from bhb_viewer.ml.importance import continuum_fill, deletion_area

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "batmm-lite-sim"
MARGIN = 0.05  # occlusion and saliency must beat a random order by this much (deletion area, 0–1)


def _check_keys(result: dict, n: int) -> None:
    assert len(result["stars"]) == n
    for star in result["stars"]:
        assert {"id", "band_importance", "segment_importance", "attention_concentration"} <= set(star)
        assert len(star["band_importance"]) == 5 and len(star["segment_importance"]) == 7
    assert set(result["deletion_area"]) == {"saliency", "occlusion", "attention", "random"}


@pytest.mark.slow
def test_explain_a_data_set_and_occlusion_and_saliency_beat_random(tmp_path):
    assert bhb(["simulate", "--n", "80", "--seed", "3", "--out", str(tmp_path / "sky")]) == 0
    out = tmp_path / "explain.json"
    assert (
        bhb(["explain", str(tmp_path / "sky"), "--model", str(SHIPPED), "--n", "40", "--out", str(out), "--seed", "1"])
        == 0
    )
    result = json.loads(out.read_text())
    _check_keys(result, 40)
    d = result["deletion_area"]
    assert d["occlusion"] < d["random"] - MARGIN and d["saliency"] < d["random"] - MARGIN
    assert d["attention"] is not None and all(s["attention_concentration"] > 0 for s in result["stars"])
    # what the score rests on differs between the classes (measured, not the model's flat SE weights)
    by_class = result["band_importance_by_class"]
    assert max(v["bhb_mean"] - v["non_bhb_mean"] for v in by_class.values()) > 0.1


def test_explain_a_catalog_with_files(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "gui"))
    from test_window_trust_flags import GALAXY, star_file

    (tmp_path / "spectra").mkdir()
    star_file(tmp_path / "star.fits")
    shutil.copy(GALAXY, tmp_path / GALAXY.name)
    Table({"id": ["star", "galaxy"], "ra": [150.0, 151.0], "dec": [2.0, 2.5],
           "spectrum_file": ["star.fits", GALAXY.name]}).write(tmp_path / "cat.ecsv")
    out = tmp_path / "explain.json"
    assert bhb(["explain", str(tmp_path / "cat.ecsv"), "--model", str(SHIPPED), "--n", "5", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    _check_keys(result, 2)
    assert {s["id"] for s in result["stars"]} == {"star", "galaxy"}


def test_continuum_fill_and_the_deletion_area():
    flux = np.tile(np.linspace(1.0, 2.0, 3522), (2, 1))
    flux[:, 1000:1010] -= 0.5  # an absorption line
    mask = np.zeros_like(flux, dtype=bool)
    mask[0, 990:1020] = True
    mask[1] = True  # everything removed: a flat spectrum at the median
    filled = continuum_fill(flux, np.ones_like(flux), mask)
    assert np.allclose(filled[0, 1000:1010], np.linspace(1.0, 2.0, 3522)[1000:1010], atol=0.01)
    assert np.allclose(filled[1], np.median(flux[1]))
    assert deletion_area(np.ones((3, 11))) == 1.0 and deletion_area(np.zeros((3, 11))) == 0.0
