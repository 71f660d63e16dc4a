"""The window's small dialogs: the non-modal error box and the file and folder choosers."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

__all__ = ["OPEN_FILTER", "ask_model_dir", "ask_open_paths", "show_error_dialog"]

OPEN_FILTER = ("Catalogs, spectra, cutouts, sessions (*.csv *.ecsv *.fits *.fit *.fts *.xml *.vot *.dat *.sqlite);;"
               "All files (*)")


def show_error_dialog(parent: QWidget, title: str, text: str) -> QMessageBox:
    """A non-modal message box: the window behind it keeps working (tests replace this function)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


def ask_open_paths(parent: QWidget) -> list[Path]:
    """The files the person picks in File → Open (none when cancelled)."""
    paths, _ = QFileDialog.getOpenFileNames(
        parent, "Open a catalog, data set, spectrum file, cutout files or session", "", OPEN_FILTER)
    return [Path(p) for p in paths]


def ask_model_dir(parent: QWidget) -> Path | None:
    """The checkpoint folder the person picks in Models → Choose a model folder…, or None."""
    path = QFileDialog.getExistingDirectory(parent, "Choose a model checkpoint directory")
    return Path(path) if path else None
