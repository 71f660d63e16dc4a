"""The status bar: background work with its progress and cancel, the last save, counts, the model.

Its labels are written by its own methods only; the window connects the review's events to them.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QProgressBar, QStatusBar, QToolButton, QWidget

from bhb_viewer.core.progress import ProgressEvent
from bhb_viewer.gui.widgets.elided_label import ElidedLabel
from bhb_viewer.review.actions import Counts
from bhb_viewer.review.tasks import ModelInfo

__all__ = ["ReviewStatusBar", "counts_text"]


def counts_text(counts: Counts) -> str:
    """'vetted 3/12 · agrees with model 2/3 (67 %)'."""
    text = f"vetted {counts.vetted}/{counts.total}"
    if counts.comparable:
        share = 100 * counts.agree / counts.comparable
        text += f" · agrees with model {counts.agree}/{counts.comparable} ({share:.0f} %)"
    return text


class ReviewStatusBar(QStatusBar):
    """Work and progress on the left; the last save, the counts and the model on the right."""

    sigCancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("cancel")
        self.cancel_button.clicked.connect(self.sigCancel)
        # Elided texts: a long file name, model version or message never widens the window.
        self.work_label = ElidedLabel("")
        self.counts_label = ElidedLabel("")
        self.device_label = ElidedLabel("no model")
        self.saved_label = ElidedLabel("")
        self.addWidget(self.work_label, 1)
        self.addWidget(self.progress)
        self.addWidget(self.cancel_button)
        for widget in (self.saved_label, self.counts_label, self.device_label):  # whole texts where they fit;
            self.addPermanentWidget(widget)  # the work label (stretch 1) takes the rest, all elide when short
        self.set_busy(False)

    def set_busy(self, busy: bool) -> None:
        """Show the progress bar and cancel button only while background work runs."""
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.work_label.setText("")

    def show_progress(self, event: ProgressEvent) -> None:
        """One progress report of the background work (no total: a busy bar)."""
        self.work_label.setText(f"{event.stage}: {event.message}".strip(": "))
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        else:
            self.progress.setRange(0, 0)

    def show_work(self, text: str) -> None:
        """The background work under way ('' when none)."""
        self.work_label.setText(text)

    def show_notice(self, text: str) -> None:
        """The last thing that happened (a save, a fetch that ended)."""
        self.saved_label.setText(text)

    def show_counts(self, counts: Counts) -> None:
        self.counts_label.setText(counts_text(counts))

    def show_model_status(self, text: str) -> None:
        """What the model is doing ('model X: loading', 'nothing to score')."""
        self.device_label.setText(text)

    def show_model(self, info: ModelInfo) -> None:
        self.show_model_status(f"{info.name} ({info.version}) scores on {info.device}")
