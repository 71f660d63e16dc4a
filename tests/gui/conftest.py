"""Fixtures of the window tests: error dialogs caught, a shown window,
a tiny data set (the tiny checkpoint is in tests/conftest.py)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from tinysky import make_dataset

from bhb_viewer.gui import main_window as mw
from bhb_viewer.gui.main_window import MainWindow


@pytest.fixture(autouse=True, scope="package")
def _no_automatic_collection_in_worker_threads():
    """No automatic garbage collection while the window tests run (the app does the same with
    pyqtgraph's GarbageCollector): a Qt object freed by the collector in a worker thread holds a
    Qt mutex while it waits for the GIL, as the GUI thread, holding the GIL, waits for that mutex.
    A deadlock seen once in a full run (a QMenu of a previous test's window)."""
    gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def _qt_garbage_collected_on_the_gui_thread():
    """Reference cycles (closed windows, rebuilt menus) are collected here, on the GUI thread."""
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    return make_dataset(tmp_path / "tiny")


@pytest.fixture
def errors(monkeypatch) -> list[tuple[str, str]]:
    """Error dialogs the window would show, as (title, text), instead of modal boxes."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(mw, "show_error_dialog", lambda parent, title, text: shown.append((title, text)))
    return shown


@pytest.fixture
def reviewer() -> str:
    return "tester"


@pytest.fixture
def window(qtbot, tmp_path, errors, reviewer):
    win = MainWindow(tmp_path / "userdata", reviewer=reviewer)
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()
    qtbot.waitExposed(win)
    yield win
    win.close()
