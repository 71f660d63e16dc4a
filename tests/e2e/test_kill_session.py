"""A reviewer's process killed with SIGKILL at a random moment loses no verdict whose write returned."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from bhb_viewer.core.sessions.verdicts import CatalogRef, Session

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")

# Records verdicts, notes and undos as fast as it can; says "pending" before each call and
# "done <seq> <action> <cid>" once the call has returned.
CHILD = r"""
import sys
from bhb_viewer.core.sessions.verdicts import Session, VerdictKind
session, start, log = Session.open(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "w", buffering=1)
kinds = list(VerdictKind)
log.write("ready\n")
i = start
while True:
    cid = f"c{i}"
    log.write(f"pending {i}\n")
    if i % 10 == 9:
        change = session.undo()
    elif i % 4 == 3:
        change = session.set_note(cid, f"note {i}")
    else:
        change = session.set_verdict(cid, kinds[i % len(kinds)])
    log.write(f"done {change.seq} {change.action} {change.cid}\n")
    i += 1
"""


def replay(events):
    """Independent reading of the log: the value in force per (candidate, field)."""
    stack, pos = [], 0
    by_seq = {e["seq"]: e for e in events}
    for e in events:
        if e["action"] in ("verdict", "note"):
            del stack[pos:]
            stack.append(e["seq"])
            pos += 1
        else:
            pos += 1 if e["action"] == "redo" else -1
    fields = {}
    for seq in stack[:pos]:
        fields[(by_seq[seq]["cid"], by_seq[seq]["action"])] = by_seq[seq]["value"]
    return {k: v for k, v in fields.items() if v is not None}


def run_and_kill(path, start, log_path, delay):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(start), str(log_path)])
    try:
        deadline = time.monotonic() + 20
        while not (log_path.exists() and log_path.read_text().startswith("ready")):
            assert proc.poll() is None, "writer exited early"
            assert time.monotonic() < deadline, "writer never started"
            time.sleep(0.01)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return [line.split() for line in log_path.read_text().splitlines()[1:] if line.startswith("done ")]


def test_sigkill_mid_review_loses_no_returned_write(tmp_path):
    path = tmp_path / "review.bhbsession"
    Session.create(path, CatalogRef("/data/c.ecsv", "0" * 64, 1000), "alice").close()
    rng = random.Random()
    start = 0
    for round_ in range(3):
        delay = rng.uniform(0.05, 0.4)
        done = run_and_kill(path, start, tmp_path / f"child{round_}.log", delay)
        assert done, "no write returned before the kill"
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        with Session.open(path) as session:
            events = session.events()
            logged = {e["seq"]: (e["action"], e["cid"]) for e in events}
            for _, seq, action, cid in done:
                assert logged.get(int(seq)) == (action, cid), f"returned write {seq} lost (killed after {delay:.3f} s)"
            # at most the one call in flight at the kill got in without being reported
            assert int(done[-1][1]) <= events[-1]["seq"] <= int(done[-1][1]) + 1
            now = {}
            for cid, st in session.states().items():
                if st.verdict is not None:
                    now[(cid, "verdict")] = st.verdict.value
                if st.note:
                    now[(cid, "note")] = st.note
            assert now == replay(events)
        start += 100_000
