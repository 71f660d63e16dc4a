"""A one-line label that shortens its text with "…" to the width it is given, and never asks for more.

A plain QLabel's minimum width is its text's width: a long status or model name then widens the
window by itself (1280 → 1318 → 1482 px was seen as status texts grew), pushing the right-hand
panels off screen. This one elides instead and keeps the whole text in its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_CHARS = 6  # the least a label is squeezed to, in average character widths


class ElidedLabel(QLabel):
    """QLabel whose size hint never grows with its text; painted elided at the right end."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        # Preferred: its text's width when there is room, down to a few characters when not; the
        # window's minimum width never depends on the text.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setToolTip(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        return QSize(MIN_CHARS * metrics.averageCharWidth(), metrics.height())

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()  # the whole text (+ rounding slack) where there is room
        return QSize(metrics.horizontalAdvance(self.text()) + 2, metrics.height())

    def elided_text(self) -> str:
        """The text as painted at the current width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        flags = int(self.alignment()) | int(Qt.AlignmentFlag.AlignVCenter)
        painter.drawText(self.contentsRect(), flags, self.elided_text())
        painter.end()
