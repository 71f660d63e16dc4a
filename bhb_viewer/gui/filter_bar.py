"""The filter row above the table: id / note text, a P(BHB) range, a verdict state, "hide flagged" and
"not yet catalogued"."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QWidget

from bhb_viewer.gui.widgets.verdict_panel import FieldEdit
from bhb_viewer.review.filters import STATE_FILTERS, Filter

__all__ = ["FilterBar"]

FILTER_DELAY_MS = 150  # typing or spinning applies the filter once the person pauses


class FilterBar(QWidget):
    """Widgets that edit a :class:`~bhb_viewer.review.filters.Filter`; ``sigChanged`` carries it."""

    sigChanged = Signal(object)  # Filter

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.text = FieldEdit("filter id / note (Esc clears)")
        self.text.setClearButtonEnabled(True)
        self.min = QDoubleSpinBox()
        self.max = QDoubleSpinBox()
        for box, value, prefix in ((self.min, 0.0, "P≥ "), (self.max, 1.0, "P≤ ")):
            box.setRange(0.0, 1.0)
            box.setSingleStep(0.05)
            box.setDecimals(2)
            box.setValue(value)
            box.setPrefix(prefix)
        self.state = QComboBox()
        self.state.addItems(STATE_FILTERS)
        self.hide_flagged = QCheckBox("hide flagged")
        self.not_catalogued = QCheckBox("not yet catalogued")
        self.not_catalogued.setToolTip("only candidates in no known-star catalogue (Xue 2011, Barbosa 2022, "
                                       "the blue-straggler list, or your own)")
        self.hide_flagged.setToolTip("hide candidates whose score is flagged out of distribution (not a star like "
                                     "the training set's, or outside its sky)")
        self._timer = QTimer(self, singleShot=True, interval=FILTER_DELAY_MS)
        self._timer.timeout.connect(lambda: self.sigChanged.emit(self.filter()))
        self.text.textChanged.connect(self._timer.start)
        self.min.valueChanged.connect(self._timer.start)
        self.max.valueChanged.connect(self._timer.start)
        self.state.currentIndexChanged.connect(self._timer.start)
        self.hide_flagged.toggled.connect(self._timer.start)
        self.not_catalogued.toggled.connect(self._timer.start)
        lay.addWidget(self.text, 2)
        for widget in (self.min, self.max, self.state, self.hide_flagged, self.not_catalogued):
            lay.addWidget(widget)

    def filter(self) -> Filter:
        """The filter the widgets show now (the full 0–1 range is no score filter: unscored rows stay)."""
        lo, hi = self.min.value(), self.max.value()
        return Filter(None if (lo, hi) == (0.0, 1.0) else (lo, hi), self.state.currentText(), self.text.text(),
                      self.hide_flagged.isChecked(), self.not_catalogued.isChecked())

    def show_filter(self, filter_: Filter) -> None:
        """Show ``filter_`` (set by the review) without applying it again."""
        lo, hi = filter_.score_range or (0.0, 1.0)
        self.min.setValue(lo)
        self.max.setValue(hi)
        self.state.setCurrentText(filter_.state)
        self.text.setText(filter_.text)
        self.hide_flagged.setChecked(filter_.hide_flagged)
        self.not_catalogued.setChecked(filter_.not_catalogued)
        self._timer.stop()  # the changes above only started the timer

    def set_scores_hidden(self, hidden: bool) -> None:
        """A blind audit hides the scores: the P(BHB) range would tell them, so it is off meanwhile."""
        self.min.setEnabled(not hidden)
        self.max.setEnabled(not hidden)
