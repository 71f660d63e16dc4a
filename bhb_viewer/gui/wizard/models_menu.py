"""The Models menu (scoring, the checkpoints the app knows with the one scoring ticked) and Tools → Train a model….

The menus only show and forward: which checkpoint scores the list is the review's
:class:`~bhb_viewer.review.model_choice.ModelChooser`, changed through ``review.choose_model``
(a pick here, a trained model made active in the wizard), which also makes it the active model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QMenu

from bhb_viewer.core.training.model_index import ModelEntry

if TYPE_CHECKING:
    from bhb_viewer.gui.main_window import MainWindow
    from bhb_viewer.gui.wizard.wizard import TrainingWizard

log = logging.getLogger(__name__)


def entry_text(entry: ModelEntry) -> str:
    f1 = f"F1 {entry.metrics['f1']:.3f}" if "f1" in entry.metrics else "no test metrics"
    data = f"data {entry.dataset_hash[:8]}" if entry.dataset_hash else "data ?"
    return f"{entry.label}  —  {entry.version or entry.model}, {f1}, {data}, {entry.created[:10]} ({entry.origin})"


class ModelsMenu(QMenu):
    """Score all, cancel; the known checkpoints, the one scoring the list ticked; choose a folder, open
    the trained-models folder. The checkpoint list is rebuilt each time the menu opens, so a model
    saved a moment ago is there."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__("&Models", window)
        self.window_ = window
        self.models = window.review.models
        self.score_all = self._fixed("&Score all", window.review.scoring.score_all, "Ctrl+R")
        self._fixed("&Cancel background work", window.review.cancel_work, "Ctrl+.")
        self.in_use = self.addSection("")
        self.checkpoints: list[QAction] = []
        self.end = self.addSeparator()
        self._fixed("Choose a model &folder…", window.choose_model)
        self._fixed("&Open the trained-models folder", self.open_models_folder)
        self.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def _fixed(self, text: str, slot, shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            self.window_.addAction(action)  # the key works wherever focus is in the window
        action.triggered.connect(lambda _=False: slot())
        self.addAction(action)
        return action

    def rebuild(self) -> None:
        """List the checkpoints again; tick the one scoring the list and say why it was chosen."""
        for action in self.checkpoints:
            self.removeAction(action)
            action.deleteLater()
        choice = self.models.current
        name = choice.path.name if choice.path is not None else "none"
        self.in_use.setText(f"Scoring with {name}: {choice.reason}")
        self.checkpoints = []
        for entry in self.models.entries():
            text = entry_text(entry) + (f"  [{entry.problem}]" if entry.problem else "")
            ticked = entry.path == str(choice.path)
            if entry.active and not ticked:
                text += "  · your active model"
            action = QAction(text, self)
            action.setCheckable(True)
            action.setChecked(ticked)
            action.setEnabled(not entry.problem and entry.kind == "network")
            action.setToolTip(entry.path)
            action.triggered.connect(lambda _=False, p=entry.path: self.choose(Path(p)))
            self.insertAction(self.end, action)
            self.checkpoints.append(action)

    def ticked(self) -> QAction | None:
        """The checkpoint action ticked (the model scoring the list), or None."""
        return next((a for a in self.checkpoints if a.isChecked()), None)

    def choose(self, path: Path) -> None:
        """Score with ``path`` and make it the active model (a bad one is said as an error)."""
        self.window_.review.choose_model(path)
        self.rebuild()

    def open_models_folder(self) -> None:
        """Show the folder the training wizard saves models in (made if new) in the file manager."""
        folder = self.models.index.trained_dir
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


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
            review.choose_model(Path(path), start=rescore)

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
        self.models_menu = ModelsMenu(window)
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
