"""Tools → Train a model…: from a labelled set or this session's verdicts to a new active model.

Pages: data → split and seed → model → training → results → save and use. The pages only fill a
:class:`bhb_viewer.core.training.train_config.TrainConfig`; building the data set, training (``bhb train`` in a child
process), the metrics and installing the model are the core's and the command line's own functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from bhb_viewer.core.science.small_compare import Comparison
from bhb_viewer.core.training.model_index import ModelIndex
from bhb_viewer.core.training.train_config import TrainConfig
from bhb_viewer.gui.wizard.run_pages import ResultsPage, SavePage, TrainingPage
from bhb_viewer.gui.wizard.setup_pages import DataPage, ModelPage, SplitPage
from bhb_viewer.gui.workers import TaskRunner


class TrainingWizard(QWizard):
    """The training wizard; ``sigModelSaved(path, made_active, rescore)`` tells the window what to do next."""

    sigModelSaved = Signal(str, bool, bool)

    def __init__(
        self,
        data_dir: Path,
        session_path: Path | None = None,
        active_model: Path | None = None,
        can_rescore: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.resize(980, 720)
        self.data_dir = Path(data_dir)
        self.session_path = session_path
        self.active_model = active_model
        self.can_rescore = can_rescore
        self.index = ModelIndex(self.data_dir)
        self.plan = TrainConfig(dataset="", out="")
        self.run_dir: Path | None = None
        self.comparison: Comparison | None = None  # the results page's verdict on the new model against the active one
        self.runner = TaskRunner(self)
        self.pages: dict[str, Any] = {
            "data": DataPage(self), "split": SplitPage(self), "model": ModelPage(self),
            "training": TrainingPage(self), "results": ResultsPage(self), "save": SavePage(self),
        }
        for page in self.pages.values():
            self.addPage(page)
        self.finished.connect(lambda _result: self.cleanup())

    @property
    def finished_run(self) -> Path:
        """The run the training page finished (the results and save pages come only after one)."""
        if self.run_dir is None:
            raise RuntimeError("no finished training run yet")
        return self.run_dir

    def page_named(self, name: str):
        """One of the pages by name: data, split, model, training, results, save."""
        return self.pages[name]

    def cleanup(self, wait_ms: int = 0) -> None:
        """A training child still running is cancelled (its run stays resumable); background jobs end.

        Closing the wizard waits for nothing (the child saves its state and exits by itself; the
        window never freezes); closing the application waits up to ``wait_ms`` for both.
        """
        self.pages["training"].cleanup(wait_ms)
        self.runner.shutdown(wait_ms)
