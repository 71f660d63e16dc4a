import json
import os

import numpy as np
import pytest
from astropy.io import fits, votable
from astropy.io.votable import parse
from astropy.table import MaskedColumn, Table

from bhb_viewer import __version__
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.exports.export import (
    CLASSICAL_COLUMNS,
    export_catalog,
    export_table,
    format_for_path,
    load_validation,
    model_accepted,
    read_provenance,
    threshold_summary,
)
from bhb_viewer.core.files import write_atomic
from bhb_viewer.core.science.metrics import purity_completeness_at
from bhb_viewer.core.sessions.verdicts import CatalogRef, ModelRef, Session, VerdictKind

V = VerdictKind
MODEL = ModelRef("batmm-lite-sim", "1.0", "/models/batmm-lite-sim")
READ_FORMAT = {"csv": "ascii.csv", "ecsv": "ascii.ecsv", "fits": "fits", "votable": "votable"}
SUFFIX = {"csv": "csv", "ecsv": "ecsv", "fits": "fits", "votable": "vot"}


def exports(folder):
    """Files in folder other than the session's (its -wal/-shm companions come and go)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("review.bhbsession"))


@pytest.fixture
def catalog():
    return Table(
        {
            "id": np.array([101, 102, 103, 104, 105]),
            "ra": np.array([10.0, 11.0, 12.0, 13.0, 14.0]),
            "dec": np.array([-1.0, 0.0, 1.0, 2.0, 3.0]),
            "d02": np.array([27.1, 12.0, 30.5, 22.2, 9.0], dtype=np.float32),
            "fm": np.array([0.20, 0.35, 0.18, 0.22, 0.4]),
            "classical_bhb": np.array([True, False, True, True, False]),
            "specobjid": MaskedColumn(np.array([2**63 + 5, 1, 2, 3, 4], dtype=np.uint64), mask=[0, 0, 1, 0, 0]),
        }
    )


@pytest.fixture
def session(tmp_path):
    s = Session.create(tmp_path / "review.bhbsession", CatalogRef("/data/cands.ecsv", "cd" * 32, 5), "alice", MODEL)
    s.set_verdict(101, V.BHB)
    s.set_note(101, "Hδ wings broad, \"clean\", ok")
    s.set_verdict(103, V.BLUE_STRAGGLER)
    s.set_note(104, "look again")  # note only: not vetted
    s.scores.store(MODEL, [101, 102, 103, 104, 105], [0.95, 0.10, 0.80, 0.55, 0.02])
    yield s
    s.close()


def test_export_table_columns_and_selection(catalog, session):
    t = export_table(catalog, session)
    assert list(t["id"]) == [101, 103]
    assert list(t["verdict"]) == ["bhb", "blue_straggler"] and list(t["verdict_label"]) == [1, 0]
    assert t["note"][0] == "Hδ wings broad, \"clean\", ok" and t["reviewer"][0] == "alice"
    assert t["verdict_time"][0] == session.state(101).time
    assert list(t["p_bhb"]) == [0.95, 0.80]
    assert list(t["model_name"]) == ["batmm-lite-sim"] * 2 and list(t["model_version"]) == ["1.0"] * 2
    assert t.colnames[-3:] == ["d02", "fm", "classical_bhb"]  # classical diagnostics kept, last
    assert len(catalog.colnames) == 7  # the caller's table is not modified

    everything = export_table(catalog, session, selection="all")
    assert len(everything) == 5 and list(everything["verdict"]) == ["bhb", "", "blue_straggler", "", ""]
    assert everything["note"][3] == "look again" and list(everything["verdict_label"]) == [1, -1, 0, -1, -1]

    unscored = export_table(catalog, session, selection="all", scores={"101": 0.5})
    assert unscored["p_bhb"][0] == 0.5 and np.isnan(unscored["p_bhb"][1]) and unscored["model_name"][1] == ""

    extra = export_table(catalog, session, extra_columns={"b_hg": np.arange(5.0), "c_hg": np.ones(5)})
    assert [c for c in extra.colnames if c in CLASSICAL_COLUMNS] == ["d02", "fm", "b_hg", "c_hg", "classical_bhb"]
    assert list(extra["b_hg"]) == [0.0, 2.0]


def test_model_accepted_selection_with_threshold_provenance(catalog, session):
    y_val = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    p_val = np.array([0.9, 0.8, 0.4, 0.7, 0.2, 0.1, 0.95, 0.85])
    summary = threshold_summary(y_val, p_val, 0.75)
    assert (summary.purity, summary.completeness, summary.n_selected) == purity_completeness_at(y_val, p_val, 0.75)
    assert summary.purity == pytest.approx(3 / 4) and summary.completeness == pytest.approx(3 / 4)
    t = export_table(catalog, session, selection="model-accepted", threshold=summary)
    # 103 scores above the cut, but the person called it a blue straggler: their verdict wins
    assert list(t["id"]) == [101] and np.all(t["p_bhb"] >= 0.75)
    assert t.meta["PCUT"] == 0.75 and t.meta["PURITY"] == summary.purity and t.meta["NVAL"] == 8
    assert t.meta["SELECTN"] == "model-accepted" and t.meta["NROWS"] == 1
    assert list(export_table(catalog, session, selection="model-accepted", cut=0.5)["id"]) == [101, 104]
    with pytest.raises(ValueError, match="cut"):
        export_table(catalog, session, selection="model-accepted")


def test_threshold_summary_curve_and_unlabelled_rows():
    s = threshold_summary([1, 0, -1, 1], [0.9, 0.6, 0.99, 0.3], 0.5)
    assert s.n_val == 3 and s.n_selected == 2 and s.purity == 0.5 and s.completeness == 0.5
    assert list(s.thresholds) == [0.9, 0.6, 0.3] and list(s.recall) == [0.5, 0.5, 1.0]


@pytest.mark.filterwarnings("ignore:OverflowError converting to IntType")  # astropy reading ids past 2**63
@pytest.mark.parametrize("fmt", ["csv", "ecsv", "fits", "votable"])
def test_each_format_round_trips(tmp_path, catalog, session, fmt):
    path = export_catalog(tmp_path / f"vetted.{SUFFIX[fmt]}", catalog, session, selection="all", cut=0.5)
    assert format_for_path(path) == fmt
    kwargs = {"comment": "#"} if fmt == "csv" else {}
    back = Table.read(path, format=READ_FORMAT[fmt], **kwargs)
    assert len(back) == 5
    assert list(back["id"]) == [101, 102, 103, 104, 105] and back["id"].dtype.kind == "i"
    np.testing.assert_allclose(back["p_bhb"], [0.95, 0.10, 0.80, 0.55, 0.02])
    assert back["p_bhb"].dtype.kind == "f" and back["d02"].dtype.kind == "f"
    np.testing.assert_allclose(back["d02"], catalog["d02"])
    assert list(back["verdict_label"]) == [1, -1, 0, -1, -1]
    ids = [None if np.ma.is_masked(v) or v == "" else int(v) for v in back["specobjid"]]  # text past 2**63
    assert ids in ([2**63 + 5, 1, None, 3, 4], [2**63 + 5, 1, 2, 3, 4])

    def text(col, i):
        v = back[col][i]
        return "" if np.ma.is_masked(v) else (v.decode() if isinstance(v, bytes) else str(v))

    assert [text("verdict", i) for i in range(5)] == ["bhb", "", "blue_straggler", "", ""]
    note = text("note", 0)
    assert note == ("H\\u03b4 wings broad, \"clean\", ok" if fmt == "fits" else "Hδ wings broad, \"clean\", ok")
    assert text("reviewer", 0) == "alice" and text("model_version", 1) == "1.0"
    assert text("verdict_time", 2) == session.state(103).time

    prov = read_provenance(path)
    assert prov["SOFTWARE"] == f"bhb_viewer {__version__}" and prov["SELECTN"] == "all" and prov["NROWS"] == 5
    assert prov["CATSHA"] == "cd" * 32 and prov["CATROWS"] == 5 and prov["SESSION"] == str(session.path.resolve())
    assert prov["MODEL"] == "batmm-lite-sim" and prov["MODELVER"] == "1.0" and prov["PCUT"] == 0.5
    # ... and where a plain astropy user finds it
    if fmt == "ecsv":
        assert back.meta["CATSHA"] == "cd" * 32
    elif fmt == "fits":
        assert fits.getheader(path, 1)["MODELVER"] == "1.0"
    elif fmt == "votable":
        assert "MODEL=batmm-lite-sim" in back.meta["description"]
        assert {i.name for i in parse(str(path)).get_first_table().infos} >= {"CATSHA", "EXPORTED"}
    else:
        assert "CATSHA: " + json.dumps("cd" * 32) in back.meta["comments"]
    assert exports(tmp_path) == [path.name]


def test_empty_vetted_export_still_writes_typed_columns(tmp_path, catalog):
    path = export_catalog(tmp_path / "none.fits", catalog, None, states={})
    back = Table.read(path)
    assert len(back) == 0 and "verdict" in back.colnames and read_provenance(path)["NROWS"] == 0


def test_failing_writer_leaves_old_file_and_no_litter(tmp_path, catalog, session, monkeypatch):
    target = tmp_path / "out.ecsv"
    export_catalog(target, catalog, session)
    before = target.read_bytes()

    def half_then_crash(tmp):
        tmp.write_text(before.decode()[:100])
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, half_then_crash)
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]

    # the real writers failing part-way (astropy's Table.write and the VOTable writer)
    def crash(path, *args, **kwargs):
        with open(path, "w") as f:
            f.write("half a table")
        raise OSError("disk full")

    monkeypatch.setattr(Table, "write", lambda self, path, *a, **k: crash(path))
    monkeypatch.setattr(votable, "writeto", lambda table, path, *a, **k: crash(path))
    for suffix in ("ecsv", "csv", "fits", "vot"):
        with pytest.raises(OSError, match="disk full"):
            export_catalog(tmp_path / f"out.{suffix}", catalog, session)
    assert target.read_bytes() == before
    assert exports(tmp_path) == ["out.ecsv"]


@pytest.mark.filterwarnings("ignore:OverflowError converting to IntType")
def test_overwrite_replaces_atomically(tmp_path, catalog, session):
    target = tmp_path / "out.csv"
    export_catalog(target, catalog, session, selection="all")
    export_catalog(target, catalog, session)
    assert len(Table.read(target, format="ascii.csv", comment="#")) == 2


def test_format_for_path():
    assert format_for_path("a.FITS") == "fits" and format_for_path("a.fits.gz") == "fits"
    assert format_for_path("a.xml") == "votable" and format_for_path("a.ecsv") == "ecsv"
    with pytest.raises(BadInputError, match="a.txt"):
        format_for_path("a.txt")


def test_load_validation(tmp_path):
    (tmp_path / "validation.json").write_text(json.dumps({"p_bhb": [0.1, 0.9], "label": [0, 1]}))
    labels, p = load_validation(tmp_path)
    assert list(labels) == [0, 1] and list(p) == [0.1, 0.9]
    (tmp_path / "config.json").write_text("{}")
    assert list(load_validation(tmp_path / "config.json")[1]) == [0.1, 0.9]
    (tmp_path / "validation.json").write_text(json.dumps({"p_bhb": [0.1], "label": [0, 1]}))
    with pytest.raises(BadInputError, match="1 scores"):
        load_validation(tmp_path)
    (tmp_path / "validation.json").write_text("{not json")
    with pytest.raises(BadInputError, match="validation.json"):
        load_validation(tmp_path)
    with pytest.raises(BadInputError, match="no validation"):
        load_validation(tmp_path / "nowhere")
    (tmp_path / "odd" / "validation.json").mkdir(parents=True)  # unreadable as a file
    with pytest.raises(BadInputError, match="validation results unreadable"):
        load_validation(tmp_path / "odd")


def test_model_accepted_lets_a_persons_verdict_win():
    p = np.array([0.9, 0.9, 0.9, 0.9, 0.2, np.nan, 0.9, 0.2])
    verdicts = ["", "unsure", "blue_straggler", "bad_data", "bhb", "bhb", "other", ""]
    kept = model_accepted(p, verdicts, 0.5)
    assert kept.tolist() == [True, True, False, False, True, True, False, False]


def test_csv_neutralises_formulas_and_other_formats_keep_the_text(tmp_path, catalog):
    from bhb_viewer.core.exports.export import neutralise_formula

    assert [neutralise_formula(t) for t in ("=1+2", "+x", "-cmd", "@sum", "\tx", "-1.5", "+3", "plain", "")] == \
        ["'=1+2", "'+x", "'-cmd", "'@sum", "'\tx", "-1.5", "+3", "plain", ""]
    t = Table({"id": ["=HYPERLINK(\"http://x\")", "@a", "b"], "ra": [1.0, 2.0, 3.0], "dec": [-1.0, 0.0, 1.0]})
    csv = export_catalog(tmp_path / "x.csv", t, None, selection="all", states={})
    back = Table.read(csv, format="ascii.csv", comment="#")
    assert list(back["id"]) == ["'=HYPERLINK(\"http://x\")", "'@a", "b"]
    assert list(back["dec"]) == [-1.0, 0.0, 1.0]
    ecsv = export_catalog(tmp_path / "x.ecsv", t, None, selection="all", states={})
    assert list(Table.read(ecsv)["id"]) == ["=HYPERLINK(\"http://x\")", "@a", "b"]


def test_a_killed_exports_temporary_file_is_removed_by_the_next_export(tmp_path, catalog, session):
    stale = tmp_path / ".tmp-999999999-0123abcd-out.csv"  # a pid that cannot be alive
    stale.write_bytes(b"x" * 1000)
    mine = tmp_path / f".tmp-{os.getpid()}-0123abcd-out.csv"  # a live writer's: kept
    mine.write_bytes(b"y")
    export_catalog(tmp_path / "out.csv", catalog, session)
    assert not stale.exists() and mine.exists()
