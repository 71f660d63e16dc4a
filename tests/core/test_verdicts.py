import hashlib
import math
import sqlite3
import threading

import pytest

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions.verdict_log import VerdictLog
from bhb_viewer.core.sessions.verdicts import (
    MODEL_CLASS,
    CatalogRef,
    ModelRef,
    Session,
    VerdictKind,
    agreement,
    disagrees,
    model_call,
)

V = VerdictKind
CAT = CatalogRef("/data/cands.ecsv", "ab" * 32, 10)
MODEL = ModelRef("batmm-lite-sim", "1.0", "/models/batmm-lite-sim")


@pytest.fixture
def session(tmp_path):
    with Session.create(tmp_path / "s.bhbsession", CAT, "alice", MODEL) as s:
        yield s


def test_kinds_have_distinct_single_keys_and_model_classes():
    keys = [k.key for k in V]
    assert len(set(keys)) == len(keys) and all(len(k) == 1 for k in keys)
    assert [V.from_key(k.key.lower()) for k in V] == list(V)
    assert V.from_key("Q") is None
    assert MODEL_CLASS[V.BHB] == 1 and V.BLUE_STRAGGLER.model_class == 0 and V.MS_A.model_class == 0
    assert V.OTHER.model_class is None and V.BAD_DATA.model_class is None and V.UNSURE.model_class is None
    assert model_call(0.7) is V.BHB and model_call(0.2) is V.NON_BHB and model_call(0.5, cut=0.6) is V.NON_BHB
    assert disagrees(V.BHB, 0.1) and disagrees(V.MS_A, 0.9) and not disagrees(V.BHB, 0.9)
    assert not disagrees(V.UNSURE, 0.9) and not disagrees(V.BHB, None) and not disagrees(None, 0.2)
    assert not disagrees(V.BHB, float("nan"))


def test_metadata_round_trip(tmp_path, session):
    session.close()
    with Session.open(session.path) as s:
        assert (s.catalog, s.model, s.reviewer) == (CAT, MODEL, "alice")
        assert s.created.endswith("+00:00")
    with Session.open(session.path, reviewer="bob") as s:
        s.set_verdict(1, V.BHB)
        assert s.state("1").reviewer == "bob"
    with pytest.raises(FileExistsError):
        Session.create(session.path, CAT, "alice")


def test_catalog_ref_hashes_the_file(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("id,ra,dec\n1,2,3\n")
    ref = CatalogRef.from_file(f, 1)
    assert ref.path == str(f.resolve()) and ref.sha256 == hashlib.sha256(f.read_bytes()).hexdigest() and ref.n_rows == 1


def test_verdicts_notes_and_state(session):
    ch = session.set_verdict("a", V.BHB)
    assert (ch.action, ch.cid, ch.field, ch.value) == ("verdict", "a", "verdict", V.BHB)
    assert session.set_verdict("a", V.BHB) is None  # unchanged: no log entry, no undo step
    session.set_note("a", "strong Balmer lines")
    session.set_note("b", "odd cutout")
    session.set_verdict(7, V.MS_A)
    st = session.states()
    assert set(st) == {"a", "b", "7"}
    assert st["a"].verdict is V.BHB and st["a"].note == "strong Balmer lines" and st["a"].reviewer == "alice"
    assert st["b"].verdict is None and st["b"].note == "odd cutout"
    assert session.state(7) == st["7"] and session.state("zzz") is None
    counts = session.counts()
    assert counts[V.BHB] == 1 and counts[V.MS_A] == 1 and counts[V.OTHER] == 0 and set(counts) == set(V)
    session.set_note("b", "")
    assert "b" not in session.states()
    session.set_verdict("a", None)
    assert session.state("a").verdict is None and session.state("a").note == "strong Balmer lines"
    assert [e["action"] for e in session.events("a")] == ["verdict", "note", "verdict"]


def test_undo_redo_and_branch_discard(session):
    assert not session.can_undo and session.undo() is None and session.redo() is None
    session.set_verdict("a", V.BHB)
    session.set_verdict("a", V.BLUE_STRAGGLER)
    session.set_note("b", "hmm")
    ch = session.undo()
    assert (ch.action, ch.cid, ch.field, ch.value) == ("undo", "b", "note", None)
    assert session.state("b") is None
    ch = session.undo()
    assert (ch.cid, ch.value) == ("a", V.BHB) and session.state("a").verdict is V.BHB
    assert session.can_redo
    ch = session.redo()
    assert (ch.action, ch.value) == ("redo", V.BLUE_STRAGGLER) and session.state("a").verdict is V.BLUE_STRAGGLER
    session.undo()
    session.undo()
    assert session.state("a") is None and not session.can_undo
    session.redo()  # a -> BHB
    session.set_verdict("c", V.OTHER)  # new edit discards the redo branch (a -> BS, b note)
    assert not session.can_redo and session.redo() is None
    assert {k: v.verdict for k, v in session.states().items()} == {"a": V.BHB, "c": V.OTHER}
    # the log keeps everything, including the discarded branch
    assert [e["action"] for e in session.events()].count("undo") == 4


def test_reopen_restores_states_and_undo_position(tmp_path, session):
    for i, kind in enumerate([V.BHB, V.MS_A, V.UNSURE, V.BAD_DATA]):
        session.set_verdict(f"c{i}", kind)
    session.set_note("c0", "note")
    session.undo()
    session.undo()
    before = session.states()
    session.close()
    with Session.open(session.path) as s:
        assert s.states() == before
        assert s.can_undo and s.can_redo
        assert s.redo().value is V.BAD_DATA
        assert s.redo().value == "note"
        assert not s.can_redo
        s.undo()
    with Session.open(session.path) as s:
        assert s.can_redo and s.state("c0").note == ""
        assert s.redo().value == "note"


def test_second_writer_on_same_file_keeps_history_consistent(session):
    session.set_verdict("a", V.BHB)
    with Session.open(session.path, reviewer="bob") as other:
        other.set_verdict("b", V.OTHER)
        assert other.undo().cid == "b"
    # the first handle notices the other writer before its own next write
    session.set_verdict("c", V.UNSURE)
    assert session.undo().cid == "c"
    assert session.undo().cid == "a"
    assert session.states() == {}


def test_scores_cache_keyed_by_model_version(session):
    session.scores.store(MODEL, ["a", 2, "c"], [0.9, 0.1, 0.5])
    session.scores.store(ModelRef("batmm-lite-sim", "1.1"), ["a"], [0.3])
    assert session.scores.load("batmm-lite-sim", "1.0") == {"a": 0.9, "2": 0.1, "c": 0.5}
    assert session.scores.load("batmm-lite-sim", "1.1") == {"a": 0.3}
    assert session.scores.load("other", "1.0") == {}
    session.scores.store(MODEL, ["a"], [0.8])
    assert session.scores.load("batmm-lite-sim", "1.0")["a"] == 0.8
    assert session.scores.models() == [ModelRef("batmm-lite-sim", "1.0"), ModelRef("batmm-lite-sim", "1.1")]
    with pytest.raises(ValueError):
        session.scores.store(MODEL, ["a", "b"], [0.1])


def test_agreement_counts(session):
    session.set_verdict("a", V.BHB)
    session.set_verdict("b", V.MS_A)
    session.set_verdict("c", V.UNSURE)
    session.set_verdict("d", V.BHB)
    scores = {"a": 0.9, "b": 0.8, "c": 0.5}
    assert agreement(session.states(), scores) == (1, 2)


def test_set_model_persists(session):
    new = ModelRef("batmm-full", "2.0", None)
    session.set_model(new)
    session.close()
    with Session.open(session.path) as s:
        assert s.model == new


def test_bad_files_raise_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="no such"):
        Session.open(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BadInputError, match="junk.db"):
        Session.open(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(BadInputError, match="not a session"):
        Session.open(other)
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(BadInputError):
        Session.open(empty)
    assert empty.stat().st_size == 0  # opening must not turn a stranger's file into a database


def test_writes_are_durable_settings_and_thread_safe(session):
    conn = sqlite3.connect(session.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert session._db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL

    def work(k):
        for i in range(20):
            session.set_verdict(f"t{k}-{i}", V.BHB)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert session.counts()[V.BHB] == 60


def test_failed_write_leaves_log_and_undo_stack_unchanged(session, monkeypatch):
    session.set_verdict("a", V.BHB)

    def broken(*args):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(VerdictLog, "_point", staticmethod(broken))
    with pytest.raises(sqlite3.OperationalError):
        session.set_verdict("b", V.MS_A)
    with pytest.raises(sqlite3.OperationalError):
        session.undo()
    monkeypatch.undo()
    assert [e["cid"] for e in session.events()] == ["a"] and session.state("b") is None
    assert session.undo().cid == "a" and not session.can_undo
    assert session.set_verdict("b", V.MS_A).seq == 3  # after a (1) and its undo (2): nothing half-written


def test_head_scores_are_cached_beside_p_bhb(tmp_path):
    with Session.create(tmp_path / "h.session.sqlite", CAT, "r") as session:
        assert session.scores.heads("m", "1") == {}  # nothing cached for this model yet
        session.scores.store(
            ModelRef("m", "1"), ["a", "b"], [0.8, 0.6], [0.8, 0.2], [float("nan"), 0.6], ["spectrum", "fusion"]
        )
    with Session.open(tmp_path / "h.session.sqlite") as session:
        heads = session.scores.heads("m", "1")
        assert session.scores.load("m", "1") == {"a": 0.8, "b": 0.6}  # written in the same transaction
        assert heads["b"] == (0.2, 0.6, "fusion")
        assert heads["a"][0] == 0.8 and math.isnan(heads["a"][1]) and heads["a"][2] == "spectrum"
        assert session.scores.heads("m", "2") == {}
