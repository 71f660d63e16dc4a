"""What the window remembers between runs: its splitter sizes.

A file in the user's data folder rather than the platform's registry: a test's (or a second user's)
window keeps its own. The model a list is scored with is not kept here but in the data folder's
``models.json`` (see :mod:`bhb_viewer.review.model_choice`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSplitter

__all__ = ["SETTINGS_FILE", "SPLITTER_KEYS", "WindowSettings"]

SETTINGS_FILE = "window.ini"
SPLITTER_KEYS = ("splitters/page", "splitters/right", "splitters/spectrum")


class WindowSettings:
    """The window's settings file in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.qsettings = QSettings(str(data_dir / SETTINGS_FILE), QSettings.Format.IniFormat)

    def save_splitters(self, splitters: Sequence[QSplitter]) -> None:
        for key, splitter in zip(SPLITTER_KEYS, splitters, strict=True):
            self.qsettings.setValue(key, splitter.saveState())

    def restore_splitters(self, splitters: Sequence[QSplitter]) -> None:
        for key, splitter in zip(SPLITTER_KEYS, splitters, strict=True):
            state = self.qsettings.value(key)
            if state is not None:
                splitter.restoreState(state)

    def sync(self) -> None:
        """Write to disk now (the window is closing)."""
        self.qsettings.sync()
