"""kill -9 of the app in the middle of a review loses no verdict the window reported as saved.

A child process runs the real window (offscreen) on a tiny data set and vets candidates by key
presses as fast as it can, printing each write the window reports as saved; the parent kills it
with SIGKILL mid-stream and reads the session file back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tinysky import make_dataset

from bhb_viewer.core.sessions.verdicts import Session

CHILD = textwrap.dedent(
    """
    import sys
    from itertools import cycle
    from pathlib import Path
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from bhb_viewer.gui.main_window import MainWindow

    window = MainWindow(Path(sys.argv[2]), reviewer="kill-test")
    window.show()
    window.activateWindow()
    keys = cycle([Qt.Key.Key_B, Qt.Key.Key_S, Qt.Key.Key_A, Qt.Key.Key_X, Qt.Key.Key_U, Qt.Key.Key_K])

    def saved(cid, what):
        print("SAVED", cid, what, flush=True)

    def step():
        QTest.keyClick(window.table, next(keys))
        QTimer.singleShot(1, step)

    def started():
        window.sigSettled.disconnect(started)
        print("SESSION", window.review.session.path, flush=True)
        window.table.setFocus()
        step()

    window.sigSaved.connect(saved)
    window.sigSettled.connect(started)
    window.review.open_path(Path(sys.argv[1]))
    app.exec()
    """
)


@pytest.mark.slow
def test_kill_9_mid_review_keeps_every_saved_verdict(tmp_path):
    dataset = make_dataset(tmp_path / "ds", n=20)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(dataset), str(tmp_path / "userdata")],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    reported, session_path = [], None
    deadline = time.monotonic() + 120
    try:
        for line in child.stdout:
            parts = line.split()
            if parts[:1] == ["SESSION"]:
                session_path = Path(parts[1])
            elif parts[:1] == ["SAVED"]:
                reported.append((parts[1], parts[2]))
                if len(reported) >= 25:
                    break
            if time.monotonic() > deadline:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert session_path is not None and len(reported) >= 25

    with Session.open(session_path) as session:
        log = [(e["cid"], f"verdict:{e['value']}") for e in session.events() if e["action"] == "verdict"]
        states = session.states()
    # every write reported as saved is in the file, in order (one more may have landed unreported)
    assert log[: len(reported)] == reported
    for cid, what in reported[-3:]:
        if (cid, what) == log[-1]:
            assert states[cid].verdict.value == what.split(":")[1]
