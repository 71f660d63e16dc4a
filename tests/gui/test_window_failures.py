"""Failures the window can meet each show a dialog and leave it working: a damaged session, a
data folder it cannot write, a result the review cannot take, a bug in a slot."""

from __future__ import annotations

import sqlite3
import sys

import pytest
from PySide6.QtCore import Qt

from bhb_viewer.core.sessions.verdicts import VerdictKind
from bhb_viewer.gui import main_window as mw
from bhb_viewer.gui.app import show_unexpected_errors
from bhb_viewer.gui.main_window import MainWindow
from bhb_viewer.gui.workers import TaskRunner


@pytest.fixture
def errors(monkeypatch):
    shown = []
    monkeypatch.setattr(mw, "show_error_dialog", lambda parent, title, text: shown.append((title, text)))
    return shown


def make_window(qtbot, data_dir):
    win = MainWindow(data_dir, reviewer="tester")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_a_hand_edited_session_is_a_dialog_and_the_window_still_opens_lists(qtbot, tmp_path, tiny_dataset, errors):
    win = make_window(qtbot, tmp_path / "userdata")
    with qtbot.waitSignal(win.sigSettled, timeout=20000):
        win.review.open_path(tiny_dataset)
    session = win.review.session.path
    win.review.close()
    edited = tmp_path / "edited.session.sqlite"
    src, dst = sqlite3.connect(session), sqlite3.connect(edited)
    src.backup(dst)
    src.close()
    dst.execute("update meta set value='[1, 2]' where key='catalog'")
    dst.commit()
    dst.close()
    win.review.open_path(edited)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    title, text = errors[-1]
    assert title == "Cannot open the session" and str(edited) in text and "edited by hand" in text
    with qtbot.waitSignal(win.sigSettled, timeout=20000):
        win.review.open_path(tiny_dataset)
    win.table.setFocus()
    qtbot.keyClick(win.table, Qt.Key.Key_B)
    assert win.review.session.state("star000").verdict is VerdictKind.BHB
    win.close()


def test_an_unwritable_data_folder_is_a_dialog_at_start_and_reviews_still_work(qtbot, tmp_path, tiny_dataset, errors):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    win = make_window(qtbot, blocked / "data")
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors[0][0] == "The data folder is not writable" and "--data-dir" in errors[0][1]
    with qtbot.waitSignal(win.sigSettled, timeout=20000):
        win.review.open_path(tiny_dataset)
    win.table.setFocus()
    qtbot.keyClick(win.table, Qt.Key.Key_S)
    assert win.review.session.state("star000").verdict is VerdictKind.BLUE_STRAGGLER
    win.close()


def test_a_result_the_review_cannot_take_is_reported_not_lost(qtbot):
    runner = TaskRunner()
    failed, done = [], []

    def job(cancel, progress):
        yield 1
        yield 2

    def take(item):
        if item == 1:
            raise KeyError("no such row")

    runner.submit("x", job, on_batch=take, on_error=failed.append, on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=5000)
    assert failed == ["KeyError: 'no such row'"] and done == [True]


def test_a_bug_in_a_slot_becomes_a_dialog(qtbot, tmp_path, errors, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    win = make_window(qtbot, tmp_path / "userdata")
    show_unexpected_errors(win)
    try:
        raise ZeroDivisionError("division by zero in a slot")
    except ZeroDivisionError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    title, text = errors[-1]
    assert title == "Unexpected error" and "division by zero" in text and "goes on" in text
    win.close()
