"""What the window remembers between runs: its splitter sizes and the model this user scored with last.

A file in the user's data folder rather than the platform's registry: a test's (or a second user's)
window keeps its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSplitter

__all__ = ["SETTINGS_FILE", "SPLITTER_KEYS", "WindowSettings"]

SETTINGS_FILE = "window.ini"
SPLITTER_KEYS = ("splitters/page", "splitters/right", "splitters/spectrum")
MODEL_KEY = "model/last"


class WindowSettings:
    """The window's settings file in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.qsettings = QSettings(str(data_dir / SETTINGS_FILE), QSettings.Format.IniFormat)

    def last_model(self) -> Path | None:
        """The checkpoint this user scored with last, if it is still there."""
        value = self.qsettings.value(MODEL_KEY)
        return Path(value) if value and Path(value).is_dir() else None

    def remember_model(self, checkpoint: str | Path) -> None:
        """``checkpoint`` becomes the active model of the next list."""
        self.qsettings.setValue(MODEL_KEY, str(checkpoint))

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
