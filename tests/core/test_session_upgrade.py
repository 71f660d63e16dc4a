"""A session file written before schema migrations (release 1, user_version 0) opens, upgrades and keeps everything.

tests/data/session-format1.sqlite was written by that release's ``Session`` (see tests/data/README.md).
"""

import math
import shutil
import sqlite3
from pathlib import Path

import pytest

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions.session_schema import SCHEMA_VERSION
from bhb_viewer.core.sessions.verdicts import CandidateState, CatalogRef, ModelRef, Session, VerdictKind

V = VerdictKind
OLD = Path(__file__).parents[1] / "data" / "session-format1.sqlite"
TABLES = ("meta", "events", "current", "scores", "head_scores", "reviews")


@pytest.fixture
def old(tmp_path):
    path = tmp_path / "old.sqlite"
    shutil.copyfile(OLD, path)
    return path


def _raw(path, tables=TABLES):
    """Every row of the tables, and the user_version, read with plain sqlite3."""
    conn = sqlite3.connect(path)
    try:
        rows = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
        return rows, conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_release1_file_upgrades_and_keeps_every_verdict_undo_meta_and_score(old):
    before, version = _raw(old)
    assert version == 0 and len(before["events"]) == 12
    with Session.open(old, read_only=True) as s:  # a merge reads its sources read-only: upgraded all the same
        assert _raw(old) == (before, SCHEMA_VERSION)  # tables gained, not one row changed
        with pytest.raises(PermissionError):
            s.set_verdict("1001", V.OTHER)
    with Session.open(old) as s:
        assert (s.owner, s.reviewer, s.created) == ("alice", "alice", "2026-12-05T17:32:57.894+00:00")
        assert s.catalog == CatalogRef("/data/candidates.ecsv", "ab" * 32, 12)
        assert s.model == ModelRef("batmm-fusion", "2.0")
        assert s.get_meta("audit") == {"cut": 0.5, "seq": 3, "ids": ["1003"]}
        assert {cid: (st.verdict, st.note, st.reviewer) for cid, st in s.states().items()} == {
            "1001": (V.BHB, "strong Balmer wings", "alice"),
            "1002": (V.BHB, "", "bob"),  # bob's overruling verdict
            "1003": (V.BLUE_STRAGGLER, "", "alice"),
            "1005": (V.BAD_DATA, "", "bob"),  # his note undone
            "1006": (V.OTHER, "imported", "dave"),
        }
        assert list(s.verdicts_since(3, blind=True)) == ["1003"]
        assert [(e["reviewer"], e["action"], e["cid"], e["blind"]) for e in s.events()][3:7] == [
            ("alice", "verdict", "1003", 1), ("alice", "verdict", "1004", 0), ("alice", "undo", "1004", None),
            ("bob", "verdict", "1002", 0)]
        assert s.scores.models() == [ModelRef("batmm-fusion", "2.0"), ModelRef("batmm-lite-sim", "1.0")]
        assert s.scores.load("batmm-lite-sim", "1.0") == {"1001": 0.91, "1002": 0.12, "1003": 0.47, "1004": 0.66}
        heads = s.scores.heads("batmm-fusion", "2.0")
        assert heads["1001"] == (0.9, 0.8, "fusion") and heads["1002"][::2] == (0.2, "spectrum")
        assert math.isnan(heads["1002"][1])
        assert s.reviews() == {
            "carol": {"1001": CandidateState(V.BHB, "agree", "carol", "2026-01-02T03:04:05.000+00:00")}
        }
        # alice's undo stack: 1004 undone, so redo brings it back, then her earlier edits undo in order
        assert s.can_undo and s.can_redo
        assert (s.redo().cid, s.state("1004").verdict) == ("1004", V.UNSURE)
        assert s.undo().cid == "1004" and s.undo().cid == "1003"
        assert s.set_verdict("1007", V.MS_A, blind=True).seq == 16  # the log goes on after the release's 12 events
    with Session.open(old, reviewer="bob") as bob:
        assert bob.can_undo and bob.can_redo and bob.redo().value == "cosmic ray"
    with Session.open(old, reviewer="dave") as dave:
        assert dave.can_undo and not dave.can_redo
    assert _raw(old)[1] == SCHEMA_VERSION


def test_earliest_release1_file_gains_the_tables_and_column_it_never_had(old):
    """Files made before release 1 added writers, reviews, head scores and the blind column still open."""
    conn = sqlite3.connect(old)
    conn.executescript("DROP TABLE writers; DROP TABLE reviews; DROP TABLE head_scores;"
                       "ALTER TABLE events DROP COLUMN blind;")
    conn.close()
    with Session.open(old, reviewer="erin") as s:
        assert len(s.events()) == 12 and {e["blind"] for e in s.events()} == {None}  # not known to be blind
        assert (
            s.verdicts_since(0, blind=True) == {} and s.reviews() == {} and s.scores.heads("batmm-fusion", "2.0") == {}
        )
        assert s.writers.others() == []
        s.set_verdict("1001", V.BHB, blind=True)  # given again blind: recorded, as the one in force was not
        assert list(s.verdicts_since(0, blind=True)) == ["1001"]
    assert _raw(old, ("writers", "reviews", "head_scores"))[1] == SCHEMA_VERSION


def test_a_file_from_a_newer_release_is_refused_unchanged(old):
    conn = sqlite3.connect(old)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = _raw(old)
    with pytest.raises(BadInputError, match="newer"):
        Session.open(old)
    assert _raw(old) == before


def test_new_files_are_current(tmp_path):
    with Session.create(tmp_path / "new.sqlite", CatalogRef("/c.ecsv", "cd" * 32, 1), "alice"):
        pass
    assert _raw(tmp_path / "new.sqlite")[1] == SCHEMA_VERSION
