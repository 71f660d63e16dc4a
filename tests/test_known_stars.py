"""Known stars beside every candidate (issue 24): the shipped catalogues and a user's, in bhb score."""

from __future__ import annotations

import json

import numpy as np
from astropy.table import Table

from bhb_viewer.cli import main as bhb
from bhb_viewer.core.readers.candidates import read_candidates
from bhb_viewer.core.readers.known_stars import KnownStars, describe, shipped_known_stars
from bhb_viewer.core.resources import resource_path


def xue_star(k: int = 0) -> tuple[float, float]:
    xue = read_candidates(resource_path("catalogs/xue2011_bhb.dat"))
    return float(xue["ra"][k]), float(xue["dec"][k])


def test_a_xue_position_is_known_and_a_random_one_is_not(tmp_path):
    ra, dec = xue_star()
    known, sep = shipped_known_stars().match(np.array([ra + 1.0 / 3600, 10.0]), np.array([dec, -80.0]))
    assert "xue2011:BHB" in known[0].split(";") and 0.5 < sep[0] < 1.5 and known[1] == "" and np.isnan(sep[1])
    assert describe(known[0], sep[0]).startswith("already known: a BHB star of Xue et al. (2011)")
    Table({"ra": [10.0], "dec": [-80.0]}).write(tmp_path / "mine.csv")
    mine = KnownStars.load((tmp_path / "mine.csv",), shipped=False)
    assert mine.match(np.array([10.0]), np.array([-80.0]))[0][0] == "mine:known"


def test_bhb_score_names_the_known_stars(tmp_path, capsys):
    assert bhb(["simulate", "--n", "20", "--seed", "4", "--out", str(tmp_path / "sky")]) == 0
    catalog = Table.read(tmp_path / "sky" / "catalog.ecsv")["id", "ra", "dec"]
    catalog["ra"][0], catalog["dec"][0] = xue_star(3)
    catalog.write(tmp_path / "candidates.ecsv")
    Table({"ra": [float(catalog["ra"][1])], "dec": [float(catalog["dec"][1])], "known_as": ["mylist:BSS"]}).write(
        tmp_path / "mine.ecsv")
    assert bhb(["score", str(tmp_path / "candidates.ecsv"), "--dataset", str(tmp_path / "sky"), "--model",
                "models/batmm-lite-sim", "--out", str(tmp_path / "s.ecsv"), "--known", str(tmp_path / "mine.ecsv"),
                "--json"]) == 0
    json.loads(capsys.readouterr().out.splitlines()[-1])
    scores = Table.read(tmp_path / "s.ecsv")
    known = np.asarray(
        scores["known_as"].filled("") if hasattr(scores["known_as"], "filled") else scores["known_as"]
    ).astype(str)
    assert "xue2011:BHB" in known[0].split(";") and scores["known_sep_arcsec"][0] < 0.01
    assert known[1] == "mylist:BSS" and (known[2:] == "").all()


def test_merge_keeps_every_label_once_and_the_nearer_separation():
    from bhb_viewer.core.readers.known_stars import merge

    known, sep = merge(np.array(["xue2011:BHB", "", "bss"]), np.array([1.0, np.nan, 0.5]),
                       np.array(["group:BHB;xue2011:BHB", "group:BSS", ""]), np.array([0.4, 1.2, np.nan]))
    assert list(known) == ["xue2011:BHB;group:BHB", "group:BSS", "bss"]
    np.testing.assert_allclose(sep, [0.4, 1.2, 0.5])
