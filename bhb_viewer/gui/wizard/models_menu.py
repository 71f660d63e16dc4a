"""The Models menu (the checkpoints the app knows, the active one ticked) and Tools → Train a model….

``window.wizard_menus = install_menus(window)`` is the window's only hook: it adds both menus and hands a chosen model, or
a trained one made active, to the review's scoring (``review.scoring.set_model``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from bhb_viewer.core.model_index import ModelEntry, ModelIndex

if TYPE_CHECKING:
    from bhb_viewer.gui.main_window import MainWindow
    from bhb_viewer.gui.wizard.wizard import TrainingWizard

log = logging.getLogger(__name__)


def entry_text(entry: ModelEntry) -> str:
    f1 = f"F1 {entry.metrics['f1']:.3f}" if "f1" in entry.metrics else "no test metrics"
    data = f"data {entry.dataset_hash[:8]}" if entry.dataset_hash else "data ?"
    return f"{entry.label}  —  {entry.version or entry.model}, {f1}, {data}, {entry.created[:10]} ({entry.origin})"


class ModelsMenu(QMenu):
    """Rebuilt each time it opens, so a model saved a moment ago is there."""

    def __init__(self, window: MainWindow, index: ModelIndex) -> None:
        super().__init__("M&odels", window)
        self.window_ = window
        self.index = index
        self.aboutToShow.connect(self.rebuild)

    def rebuild(self) -> None:
        self.clear()
        for entry in self.index.entries():
            action = QAction(entry_text(entry) + (f"  [{entry.problem}]" if entry.problem else ""), self)
            action.setCheckable(True)
            action.setChecked(entry.active)
            action.setEnabled(not entry.problem and entry.kind == "network")
            action.setToolTip(entry.path)
            action.triggered.connect(lambda _=False, p=entry.path: self.choose(Path(p)))
            self.addAction(action)
        self.addSeparator()
        other = QAction("Choose a model folder…", self)
        other.triggered.connect(self._choose_folder)
        self.addAction(other)

    def choose(self, path: Path) -> None:
        """Make ``path`` the active model and score with it."""
        try:
            self.index.set_active(path)
        except ValueError as exc:
            self.window_.show_error("Not a model", str(exc))
            return
        self.window_.review.scoring.set_model(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window_, "Choose a model checkpoint directory")
        if path:
            self.choose(Path(path))


def open_training_wizard(window: MainWindow) -> TrainingWizard:
    """Tools → Train a model…: the wizard over the window's session and model; returns the wizard."""
    from bhb_viewer.gui.wizard.wizard import TrainingWizard

    review = window.review
    holder = review.scoring.model.holder
    wizard = TrainingWizard(
        review.data_dir,
        session_path=None if review.session is None else Path(review.session.path),
        active_model=None if holder is None else Path(holder.checkpoint),
        can_rescore=review.source is not None,
        parent=window,
    )

    def saved(path: str, made_active: bool, rescore: bool) -> None:
        if made_active:
            review.scoring.set_model(Path(path), start=rescore)

    wizard.sigModelSaved.connect(saved)
    window.installEventFilter(_CloseWatcher(wizard))
    wizard.setModal(False)
    wizard.show()
    return wizard


class _CloseWatcher(QObject):
    """Closing the window cancels a training child still running (its run stays resumable)."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__(wizard)
        self.wizard = wizard

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self.wizard.cleanup(wait_ms=10_000)  # the application is closing: let the child save its state
        return False


class WizardMenus:
    """What ``install_menus`` added to a window: the Models menu, the Train action, the open wizard."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.models_menu = ModelsMenu(window, ModelIndex(window.review.data_dir))
        window.menuBar().addMenu(self.models_menu)
        tools = window.menuBar().addMenu("&Tools")
        self.train_action = QAction("&Train a model…", window)
        self.train_action.triggered.connect(lambda _=False: self.open_wizard())
        tools.addAction(self.train_action)
        self.wizard: TrainingWizard | None = None

    def open_wizard(self) -> TrainingWizard:
        """Tools → Train a model…: a wizard over the window's session and active model."""
        self.wizard = open_training_wizard(self.window)
        return self.wizard


def install_menus(window: MainWindow) -> WizardMenus:
    """Add the Models menu and Tools → Train a model… to the window's menu bar."""
    return WizardMenus(window)
