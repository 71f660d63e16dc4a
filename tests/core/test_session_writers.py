"""Two processes on one session file: undo stays per reviewer, a second writer is visible, views refresh."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from bhb_viewer.core.sessions.verdicts import CatalogRef, Edit, Session, VerdictKind

V = VerdictKind
CAT = CatalogRef("/data/cands.ecsv", "ab" * 32, 10)

# A second process holding the session open as bob: one command per stdin line, "ok" after each.
BOB = textwrap.dedent("""
    import sys
    from bhb_viewer.core.sessions.verdicts import Session, VerdictKind
    s = Session.open(sys.argv[1], reviewer="bob")
    print("ok", flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "verdict":
            s.set_verdict(args[0], VerdictKind(args[1]))
        elif cmd == "undo":
            s.undo()
        elif cmd == "quit":
            s.close()
            print("ok", flush=True)
            break
        print("ok", flush=True)
""")


@pytest.fixture
def alice(tmp_path):
    with Session.create(tmp_path / "s.sqlite", CAT, "alice") as s:
        yield s


class Bob:
    def __init__(self, path):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self.proc = subprocess.Popen([sys.executable, "-c", BOB, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self._read()

    def _read(self):
        assert self.proc.stdout.readline().strip() == "ok"

    def do(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        self._read()

    def quit(self):
        self.do("quit")
        self.proc.wait(timeout=20)


def test_undo_never_reverts_another_process_later_verdict(alice):
    alice.set_verdict("c1", V.BHB)
    bob = Bob(alice.path)
    try:
        bob.do("verdict c1 ms_a")  # bob overrules alice on c1, later
        bob.do("verdict c2 other")
        change = alice.undo()  # alice's only edit is c1: bob's later verdict must stand
        assert change.cid == "c1" and not change.applied and change.value is V.MS_A
        assert alice.state("c1").verdict is V.MS_A and alice.state("c2").verdict is V.OTHER
        assert not alice.can_undo and alice.can_redo
        assert alice.redo().applied is False and alice.state("c1").verdict is V.MS_A
        bob.do("undo")  # bob's undo takes back bob's c2, not alice's anything
        assert alice.state("c2") is None and alice.state("c1").verdict is V.MS_A
        bob.do("undo")  # bob's c1 was in force: alice's BHB (its predecessor) comes back
        assert alice.state("c1").verdict is V.BHB
    finally:
        bob.quit()
    # alice's redo stack was consumed by her (unapplied) redo: nothing left to undo wrongly either
    assert [(e["reviewer"], e["action"]) for e in alice.events("c1")] == [
        ("alice", "verdict"), ("bob", "verdict"), ("alice", "undo"), ("alice", "redo"), ("bob", "undo")]


def test_undo_applies_when_the_other_reviewer_left_the_field_alone(alice):
    bob = Bob(alice.path)
    try:
        bob.do("verdict c1 bhb")
        alice.set_verdict("c1", V.BLUE_STRAGGLER)
        alice.set_verdict("c2", V.UNSURE)
        bob.do("verdict c3 ms_a")
        assert alice.undo().cid == "c2" and alice.state("c2") is None
        change = alice.undo()
        assert change.applied and change.value is V.BHB  # back to bob's verdict, which alice had overruled
        assert alice.redo().applied and alice.state("c1").verdict is V.BLUE_STRAGGLER
    finally:
        bob.quit()
    assert alice.state("c3").verdict is V.MS_A


def test_second_writer_is_seen_while_open_and_gone_after_close_or_kill(alice):
    assert alice.writers.others() == []
    bob = Bob(alice.path)
    (other,) = alice.writers.others()
    assert other.reviewer == "bob" and other.pid == bob.proc.pid
    bob.quit()
    assert alice.writers.others() == []
    bob = Bob(alice.path)
    os.kill(bob.proc.pid, signal.SIGKILL)  # a crashed window leaves its row behind ...
    bob.proc.wait(timeout=20)
    assert alice.writers.others() == []  # ... but its process is gone
    with Session.open(alice.path, read_only=True) as viewer:
        assert [w.reviewer for w in viewer.writers.others()] == ["alice"]  # read-only handles do not register
        with pytest.raises(PermissionError, match="read-only"):
            viewer.set_verdict("c1", V.BHB)


def test_stale_heartbeat_is_ignored(alice, monkeypatch):
    with Session.open(alice.path, reviewer="bob") as bob:
        assert [w.reviewer for w in alice.writers.others()] == ["bob"]
        assert alice.writers.others(stale_s=-1) == []  # nobody beat in the future
        bob.writers.heartbeat()
        assert len(alice.writers.others()) == 1


def test_poll_reports_what_another_process_changed(alice):
    r0 = alice.revision
    alice.set_verdict("mine", V.BHB)
    assert alice.poll() == []  # own writes are already on screen
    bob = Bob(alice.path)
    try:
        bob.do("verdict c7 other")
        bob.do("verdict c8 bhb")
        assert alice.revision == r0 + 3
        assert alice.poll() == ["c7", "c8"]
        assert alice.poll() == []
        bob.do("undo")
        assert alice.poll() == ["c8"]
    finally:
        bob.quit()


def test_record_many_is_one_transaction_with_reviewers_and_times(alice):
    n = alice.record_many([
        Edit("a", V.BHB, "wide wings", reviewer="carol", time="2026-01-02T03:04:05+00:00"),
        Edit("b", V.UNSURE),
        Edit("c", None, "note only"),
    ])
    assert n == 4
    a = alice.state("a")
    assert (a.verdict, a.note, a.reviewer, a.time) == (V.BHB, "wide wings", "carol", "2026-01-02T03:04:05+00:00")
    assert alice.undo().cid == "c"  # carol's edits are on carol's stack, not alice's
    assert alice.undo().cid == "b" and not alice.can_undo
    with pytest.raises(ValueError):
        alice.record_many([Edit("d", V.BHB), Edit("e", "nonsense")])
    assert alice.state("d") is None  # all or nothing


def test_verdict_parse_accepts_labels_and_values():
    assert V.parse("blue straggler") is V.BLUE_STRAGGLER
    assert V.parse("Main-sequence A") is V.MS_A
    assert V.parse("NON_BHB") is V.NON_BHB and V.parse(" bad  data ") is V.BAD_DATA
    with pytest.raises(ValueError, match=r"unknown verdict 'bhb\?'.*blue straggler"):
        V.parse("bhb?")
