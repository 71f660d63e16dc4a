"""Verdicts as labels: ``build_from_session`` and ``bhb dataset from-session``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tinysky import make_dataset

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.ingest.from_session import TooFewLabels, build_from_session, check_label_counts
from bhb_viewer.core.sessions.verdicts import CatalogRef, Session, VerdictKind

V = VerdictKind


def _session(tmp_path: Path, source: Path, verdicts: dict[str, VerdictKind], name: str = "s") -> Path:
    catalog = source / "catalog.ecsv" if source.is_dir() else source
    path = tmp_path / f"{name}.session.sqlite"
    with Session.create(path, CatalogRef.from_file(catalog, 0), reviewer="tester") as s:
        for cid, kind in verdicts.items():
            s.set_verdict(cid, kind)
        s.set_note("star039", "a note without a verdict is no label")
    return path


def _verdicts(n_bhb: int, n_non: int, start: int = 0) -> dict[str, VerdictKind]:
    kinds = [V.BHB] * n_bhb + [V.BLUE_STRAGGLER, V.MS_A, V.NON_BHB] * (n_non // 3) + [V.NON_BHB] * (n_non % 3)
    return {f"star{start + i:03d}": k for i, k in enumerate(kinds)}


def test_labels_counts_and_exclusions(tmp_path):
    source = make_dataset(tmp_path / "src", n=40)
    verdicts = _verdicts(12, 14) | {"star030": V.OTHER, "star031": V.UNSURE, "star032": V.BAD_DATA}
    # a verdict later undone is not in force
    session = _session(tmp_path, source, verdicts)
    with Session.open(session) as s:
        s.set_verdict("star033", V.BHB)
        s.undo()
    report = build_from_session(session, tmp_path / "out")
    assert (report.n_bhb, report.n_non_bhb, report.n_excluded, report.n_without_data) == (12, 14, 3, 0)
    ds = open_dataset(tmp_path / "out")
    labels = dict(zip(np.asarray(ds.catalog["id"]).astype(str), ds.labels, strict=True))
    assert labels["star000"] == 1 and labels["star012"] == 0 and labels["star013"] == 0  # BHB, BSS, MS-A
    assert not {"star030", "star031", "star032", "star033", "star039"} & set(labels)
    src = open_dataset(source)
    i = list(np.asarray(ds.catalog["id"]).astype(str)).index("star005")
    np.testing.assert_array_equal(ds.spectra[i], src.spectra[5])
    np.testing.assert_array_equal(ds.cutouts[i], src.cutouts[5])
    prov = ds.manifest["provenance"]
    assert prov["builder"] == "session" and {e["verdict"] for e in prov["excluded"]} == {"other", "unsure", "bad_data"}


def test_merge_with_base_person_wins(tmp_path):
    source = make_dataset(tmp_path / "src", n=40, seed=1)
    base = make_dataset(tmp_path / "base", n=30, seed=2)  # ids star000..star029, labels alternate 0/1
    # vetted: star000 (base label 0) called BHB; star001 (base label 1) marked bad data -> dropped
    verdicts = {"star000": V.BHB, "star001": V.BAD_DATA, "star035": V.NON_BHB}
    report = build_from_session(_session(tmp_path, source, verdicts), tmp_path / "out", base=base)
    ds = open_dataset(tmp_path / "out")
    labels = dict(zip(np.asarray(ds.catalog["id"]).astype(str), ds.labels, strict=True))
    assert labels["star000"] == 1 and "star001" not in labels and labels["star035"] == 0
    assert len(labels) == 30 - 2 + 2
    assert report.n_from_session == 2 and report.n_from_base == 28
    assert (report.n_bhb, report.n_non_bhb) == (15, 15)
    # the vetted star's arrays come from the session's source, not the base
    i = list(np.asarray(ds.catalog["id"]).astype(str)).index("star000")
    np.testing.assert_array_equal(ds.spectra[i], open_dataset(source).spectra[0])


def test_candidates_without_data_are_listed(tmp_path):
    source = make_dataset(tmp_path / "src", n=40)
    # a catalog file without spectra: only the base set (by id) can give data
    catalog = tmp_path / "cands.ecsv"
    cat = open_dataset(source).catalog.copy()
    cat.remove_column("label")
    cat.write(catalog, format="ascii.ecsv")
    base = make_dataset(tmp_path / "base", n=24, seed=3)
    verdicts = _verdicts(12, 12) | {"star030": V.BHB, "star031": V.NON_BHB}
    session = _session(tmp_path, catalog, verdicts)
    report = build_from_session(session, tmp_path / "out", base=base)
    assert report.n_without_data == 2
    assert {cid for cid, _ in report.without_data} == {"star030", "star031"}
    assert all("no spectrum" in why for _, why in report.without_data)
    assert len(open_dataset(tmp_path / "out")) == 24


def test_refuses_one_class_and_too_few(tmp_path):
    source = make_dataset(tmp_path / "src", n=40)
    with pytest.raises(TooFewLabels, match="only one class: no non-BHB"):
        build_from_session(_session(tmp_path, source, _verdicts(20, 0), "a"), tmp_path / "out")
    with pytest.raises(TooFewLabels, match="too few stars: 12 BHB and 3 non-BHB"):
        build_from_session(_session(tmp_path, source, _verdicts(12, 3), "b"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(TooFewLabels):
        check_label_counts(0, 0)


def test_dry_run_counts(tmp_path):
    source = make_dataset(tmp_path / "src", n=40)
    report = build_from_session(_session(tmp_path, source, _verdicts(3, 4)), None)
    assert (report.path, report.n_bhb, report.n_non_bhb) == (None, 3, 4)


def test_cli_json_and_refusal(tmp_path, capsys):
    source = make_dataset(tmp_path / "src", n=40)
    session = _session(tmp_path, source, _verdicts(12, 12) | {"star030": V.UNSURE})
    assert main(["dataset", "from-session", str(session), "--out", str(tmp_path / "out"), "--json",
                 "--cache", str(tmp_path / "cache")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("n_bhb", "n_non_bhb", "n_excluded", "n_without_data")} == \
        {"n_bhb": 12, "n_non_bhb": 12, "n_excluded": 1, "n_without_data": 0}
    one = _session(tmp_path, source, _verdicts(15, 0), "one")
    assert main(["dataset", "from-session", str(one), "--out", str(tmp_path / "out2")]) == 1
    assert "only one class" in capsys.readouterr().err
