"""The toggles of the model's view (segment shading, saliency, the cutout overlay) in a blind audit.

They show which way, and how hard, the model leans. As a blind audit hides the scores they are
unticked, and ticked again as the scores come back; ticking one during the audit is allowed, but
the review then records verdicts as not blind. This is the one place that ticks them for the review.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QCheckBox

from bhb_viewer.review.mode import ReviewMode

__all__ = ["ModelViewToggles"]


class ModelViewToggles(QObject):
    """Tell ``mode`` which of ``boxes`` are ticked, and untick them while it hides the scores.

    Parameters
    ----------
    mode : ReviewMode
        The review's mode: told the overlays on screen, read for the scores hidden.
    boxes : sequence of QCheckBox
        The toggles of the model's view; their text names the overlay.
    parent : QObject or None
    """

    def __init__(self, mode: ReviewMode, boxes: Sequence[QCheckBox], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.mode, self.boxes = mode, tuple(boxes)
        self._hidden = mode.scores_hidden  # the scores hidden as last seen
        self._unticked: list[QCheckBox] = []  # what hiding the scores turned off, turned on again after
        for box in self.boxes:
            box.toggled.connect(self._toggled)
        mode.changed.connect(self._mode_changed)
        self._toggled()

    def shown(self) -> tuple[str, ...]:
        """The overlays ticked now."""
        return tuple(box.text() for box in self.boxes if box.isChecked())

    def _toggled(self) -> None:
        self.mode.show_overlays(self.shown())

    def _mode_changed(self) -> None:
        hidden = self.mode.scores_hidden
        if hidden == self._hidden:
            return
        self._hidden = hidden  # first: unticking below comes back here through the mode
        if hidden:
            self._unticked = [box for box in self.boxes if box.isChecked()]
            for box in self._unticked:
                box.setChecked(False)
        else:
            for box in self._unticked:
                box.setChecked(True)
            self._unticked = []
