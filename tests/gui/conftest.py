"""Fixtures of the window tests: error dialogs caught, a shown window, a tiny data set (the tiny checkpoint is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tinysky import make_dataset

from bhb_viewer.gui import main_window as mw
from bhb_viewer.gui.main_window import MainWindow


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
