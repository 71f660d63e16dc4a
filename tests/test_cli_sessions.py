"""``bhb sessions``: two sessions made and filled from the command line merge with the hand-computed κ."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import write_dataset
from bhb_viewer.core.grid import NPIX

# The two-reviewer example of tests/core/test_merge.py, written as the app's labels:
# Cohen's kappa = (0.6 - 0.27) / (1 - 0.27) = 0.452054..., conflicts c3 c5 c8 c9.
ALICE = [("c0", "BHB"), ("c1", "bhb"), ("c2", "BHB"), ("c3", "BHB"), ("c4", "blue straggler"),
         ("c5", "Blue straggler"), ("c6", "main-sequence A"), ("c7", "bad data"), ("c8", "unsure"),
         ("c9", "BHB"), ("c10", "BHB")]
BOB = [("c0", "BHB"), ("c1", "BHB"), ("c2", "BHB"), ("c3", "blue straggler"), ("c4", "blue_straggler"),
       ("c5", "main-sequence A"), ("c6", "ms_a"), ("c7", "bad data"), ("c8", "BHB"), ("c9", "non-BHB"),
       ("c11", "other")]


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "cands.csv"
    Table({"id": [f"c{i}" for i in range(14)], "ra": np.arange(14.0), "dec": np.zeros(14)}).write(path)
    return path


def _csv(path, rows, header="id,verdict"):
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_new_import_show_merge(tmp_path, catalog, capsys):
    for name, rows in (("alice", ALICE), ("bob", BOB)):
        out = str(tmp_path / f"{name}.sqlite")
        assert main(["sessions", "new", str(catalog), "--reviewer", name, "--out", out]) == 0
        assert "14 candidates" in capsys.readouterr().out
        table = _csv(tmp_path / f"{name}.csv", rows)
        assert main(["sessions", "import", str(tmp_path / f"{name}.sqlite"), str(table), "--json"]) == 0
        assert _json(capsys) == {"rows": 11, "events": 11, "n_verdicts": 11}
    assert main(["sessions", "show", str(tmp_path / "bob.sqlite"), "--json"]) == 0
    shown = _json(capsys)
    assert shown["reviewer"] == "bob" and shown["n_verdicts"] == 11 and shown["catalog"]["n_rows"] == 14
    assert shown["counts"] == {"bhb": 4, "blue_straggler": 2, "ms_a": 2, "non_bhb": 1, "other": 1, "bad_data": 1}
    assert {v["id"]: v["verdict"] for v in shown["verdicts"]}["c9"] == "non_bhb"

    merged = tmp_path / "merged.sqlite"
    argv = ["sessions", "merge", str(tmp_path / "alice.sqlite"), str(tmp_path / "bob.sqlite"), "--out", str(merged)]
    assert main([*argv, "--reviewer", "lead", "--json"]) == 0
    report = _json(capsys)
    assert {k: report[k] for k in ("n_candidates", "n_reviewers", "n_conflicts", "conflicts")} == {
        "n_candidates": 12, "n_reviewers": 2, "n_conflicts": 4, "conflicts": ["c3", "c5", "c8", "c9"]}
    assert report["kappa"] == pytest.approx(0.33 / 0.73, abs=1e-6) and report["kappa_method"] == "cohen"
    assert report["per_reviewer"]["alice"]["n_vetted"] == 11 and report["per_reviewer"]["bob"]["n_conflicts"] == 4

    # a resolution imported into the merged session, by the lead
    assert main(["sessions", "import", str(merged), str(_csv(tmp_path / "fix.csv", [("c3", "blue straggler")]))]) == 0
    capsys.readouterr()
    assert main(["sessions", "show", str(merged), "--json"]) == 0
    shown = _json(capsys)
    assert shown["merge"]["kappa"] == report["kappa"] and shown["unresolved"] == ["c5", "c8", "c9"]
    assert shown["consensus"]["c3"] == "blue_straggler" and shown["consensus"]["c0"] == "bhb"
    assert shown["consensus"]["c5"] is None and [s["reviewer"] for s in shown["merged_from"]] == ["alice", "bob"]


def test_import_checks_every_row_and_writes_nothing_when_one_is_bad(tmp_path, catalog, capsys):
    session = tmp_path / "s.sqlite"
    assert main(["sessions", "new", str(catalog), "--reviewer", "alice", "--out", str(session)]) == 0
    rows = [("c0", "BHB"), ("zz9", "BHB"), ("c1", "maybe"), ("c2", "BHB", "", "", "yesterday"), ("c0", "other")]
    bad = _csv(tmp_path / "bad.csv", rows, header="id,verdict,note,reviewer,time")
    assert main(["sessions", "import", str(session), str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "nothing imported" in err
    assert "1 ids not in the session's catalog: zz9" in err and "'maybe' (line 4)" in err
    assert "'yesterday' (line 5)" in err and "c0 (lines 2 and 6)" in err and "blue straggler" in err
    assert main(["sessions", "show", str(session), "--json"]) == 0
    assert _json(capsys)["n_verdicts"] == 0
    no_col = _csv(tmp_path / "nocol.csv", [("c0",)], header="id")
    assert main(["sessions", "import", str(session), str(no_col)]) == 1
    assert "no verdict column" in capsys.readouterr().err


def test_import_keeps_reviewer_time_and_note_columns(tmp_path, catalog, capsys):
    session = tmp_path / "s.sqlite"
    main(["sessions", "new", str(catalog), "--reviewer", "alice", "--out", str(session)])
    table = _csv(tmp_path / "t.csv", [("c1", "non-BHB", "from Marz", "dana", "2025-03-04T05:06:07"),
                                      ("c2", "", "look again", "", "")], header="ID,Verdict,Note,Reviewer,Time")
    assert main(["sessions", "import", str(session), str(table)]) == 0
    capsys.readouterr()
    main(["sessions", "show", str(session), "--json"])
    rows = {v["id"]: v for v in _json(capsys)["verdicts"]}
    assert rows["c1"] == {"id": "c1", "verdict": "non_bhb", "note": "from Marz", "reviewer": "dana",
                          "time": "2025-03-04T05:06:07.000+00:00"}
    assert rows["c2"]["verdict"] is None and rows["c2"]["note"] == "look again" and rows["c2"]["reviewer"] == "alice"


def test_new_on_a_data_set_and_refusals(tmp_path, catalog, capsys):
    table = Table({"id": ["x", "y"], "ra": [1.0, 2.0], "dec": [2.0, 3.0], "label": [1, 0]})
    arrays = np.zeros((2, NPIX), np.float32), np.ones((2, NPIX), np.float32), np.zeros((2, 5, 8, 8), np.float32)
    ds = write_dataset(tmp_path / "ds", table, *arrays)
    out = tmp_path / "ds.sqlite"
    assert main(["sessions", "new", str(ds), "--reviewer", "eve", "--out", str(out), "--json"]) == 0
    made = _json(capsys)
    assert made["n_rows"] == 2 and made["catalog"].endswith("catalog.ecsv")
    assert main(["sessions", "import", str(out), str(_csv(tmp_path / "v.csv", [("y", "BHB")]))]) == 0
    assert main(["sessions", "new", str(ds), "--reviewer", "eve", "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["sessions", "merge", str(out), "--out", str(tmp_path / "m.sqlite")]) == 1
    assert "at least two" in capsys.readouterr().err


def test_audit_from_the_command_line_writes_purity_into_the_export(tmp_path, catalog, capsys):
    session = tmp_path / "s.sqlite"
    main(["sessions", "new", str(catalog), "--reviewer", "alice", "--out", str(session)])
    capsys.readouterr()
    scores = tmp_path / "scores.ecsv"
    p = np.linspace(0.0, 1.0, 14)  # c7..c13 have P(BHB) >= 0.5: 7 accepted, all audited at h = 0.1
    ids = [f"c{i}" for i in range(14)]
    Table({"id": ids, "p_bhb": p, "model": ["m"] * 14, "model_version": ["v1"] * 14}).write(scores)
    sample = tmp_path / "sample.csv"
    assert main(["sessions", "audit", str(session), "--cut", "0.5", "--half-width", "0.1", "--seed", "5",
                 "--scores", str(scores), "--sample-out", str(sample), "--json"]) == 0
    started = _json(capsys)
    assert started["n_sample"] == 7 and started["population"] == 7 and started["n_pending"] == 7
    assert started["purity"] is None and sorted(started["sample"], key=lambda c: int(c[1:])) == ids[7:]
    lines = sample.read_text().splitlines()
    assert lines[0] == "id,ra,dec,verdict" and "p_bhb" not in sample.read_text()
    assert [line.split(",")[0] for line in lines[1:]] == started["sample"]  # review order, no scores
    verdicts = [(cid, "BHB" if i < 5 else "non-BHB" if i == 5 else "unsure") for i, cid in enumerate(started["sample"])]
    sheet = _csv(tmp_path / "done.csv", verdicts)
    assert main(["sessions", "import", str(session), str(sheet)]) == 0  # not said to be blind: none counts
    capsys.readouterr()
    assert main(["sessions", "audit", str(session), "--json"]) == 0
    assert (lambda r: (r["n_judged"], r["n_pending"]))(_json(capsys)) == (0, 7)
    assert main(["sessions", "import", str(session), str(sheet), "--blind"]) == 0
    capsys.readouterr()
    assert main(["sessions", "audit", str(session), "--json"]) == 0
    done = _json(capsys)
    # 5 BHB of 6 judged (the unsure one left out). Wilson 95 %, p = 5/6, n = 6, z^2 = 3.8415:
    # centre = (.83333 + .32012) / 1.64024 = .70322, half = 1.95996 * sqrt(.023148 + .026677) / 1.64024 = .26672
    assert (done["n_bhb"], done["n_judged"], done["n_excluded"], done["n_pending"]) == (5, 6, 1, 0)
    assert done["purity"] == pytest.approx(5 / 6)
    assert (done["low"], done["high"]) == pytest.approx((0.4365, 0.9699), abs=1e-4)
    out = tmp_path / "export.ecsv"
    assert main(["sessions", "export", str(session), str(out), "--selection", "model-accepted", "--cut", "0.5"]) == 0
    table = Table.read(out)
    # 7 model-accepted, less the one the auditor called non-BHB: a person's verdict wins in the export
    assert len(table) == 6 and table.meta["AUDPUR"] == pytest.approx(5 / 6) and table.meta["AUDSAMP"] == 7
    assert main(["sessions", "audit", str(session), "--cut", "0.6"]) == 1
    assert "already" in capsys.readouterr().err


def test_the_selection_function_of_a_blind_audit_on_the_demo(tmp_path, capsys):
    """Issue 24: purity from the blind verdicts and, with the demo's labels, completeness, in bins of g,
    g−r and S/N; a VOTable astropy reads back with units, and a plot."""
    from astropy.io.votable import parse_single_table

    demo = Path(__file__).resolve().parents[1] / "bhb_viewer" / "resources" / "demo"
    data = tmp_path / "demo"
    shutil.copytree(demo, data)
    session = tmp_path / "s.sqlite"
    assert main(["sessions", "new", str(data), "--reviewer", "ann", "--out", str(session)]) == 0
    scores = tmp_path / "scores.ecsv"
    assert main(["score", str(data), "--model", "models/batmm-lite-sim", "--out", str(scores), "--json"]) == 0
    capsys.readouterr()
    assert main(["sessions", "audit", str(session), "--cut", "0.5", "--half-width", "0.1", "--seed", "1",
                 "--scores", str(scores), "--json"]) == 0
    started = _json(capsys)
    label = dict(zip((str(c) for c in Table.read(data / "catalog.ecsv")["id"]),
                     Table.read(data / "catalog.ecsv")["label"], strict=True))
    verdicts = [(cid, "BHB" if label[cid] == 1 else "non-BHB") for cid in started["sample"]]
    assert main(["sessions", "import", str(session), str(_csv(tmp_path / "blind.csv", verdicts))]) == 0
    out = tmp_path / "sf.vot"
    assert main(["sessions", "audit", str(session), "--selection-function", str(out), "--json"]) == 0
    table = parse_single_table(str(out)).to_table()
    expected = {"axis", "lo", "hi", "purity", "purity_lo", "purity_hi", "completeness", "source", "note"}
    assert expected <= set(table.colnames)
    assert str(table["lo"].unit) == "mag" and set(table["axis"]) == {"g", "g_r", "snr"}
    audit = table[table["source"] == "blind audit"]
    labels = table[table["source"] == "labels"]
    assert len(audit) and np.isnan(np.asarray(audit["completeness"], float)).all()
    assert len(labels) and np.isfinite(np.asarray(labels["completeness"], float)).any()
    ok = np.isfinite(np.asarray(labels["purity"], float))
    assert (np.asarray(labels["purity_lo"])[ok] <= np.asarray(labels["purity"])[ok]).all()
    assert (labels["n"] >= 1).all() and out.with_suffix(".png").is_file()
