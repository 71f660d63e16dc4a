"""File → Export: the vetted catalog in one of four formats, and the P(BHB) threshold chooser.

The chooser draws the model's validation precision–recall curve and prints the purity and
completeness at the chosen cut; every number comes from :func:`bhb_viewer.core.exports.export.threshold_summary`,
so what the dialog shows is what goes into the export's provenance. Writing is
:func:`bhb_viewer.review.export.export_task` (temporary file + rename) on a worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.exports.export import Selection, ThresholdSummary, threshold_summary
from bhb_viewer.gui.workers import TaskRunner
from bhb_viewer.review.export import accepted_counts, default_export_path, export_task, validation_curve

__all__ = ["FORMAT_CHOICES", "ExportDialog", "ThresholdChooser"]

FORMAT_CHOICES = {"CSV": ("csv", ".csv"), "ECSV": ("ecsv", ".ecsv"), "FITS": ("fits", ".fits"),
                  "VOTable": ("votable", ".xml")}
SLIDER_STEPS = 1000
MIN_CUT = 1 / SLIDER_STEPS  # a cut of 0 would "accept" every scored row: not a model's selection
# what each choice of rows says it is
SELECTION_TEXT = {
    Selection.VETTED: "vetted: every candidate with a verdict",
    Selection.ALL: "all candidates",
    Selection.MODEL_ACCEPTED: "model-accepted: P(BHB) ≥ cut, but a person's verdict always wins",
}


class ThresholdChooser(QWidget):
    """A P(BHB) cut with the validation P–R curve and the purity/completeness at that cut."""

    sigCutChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None, cut: float = 0.5) -> None:
        super().__init__(parent)
        self._labels: np.ndarray | None = None
        self._p: np.ndarray | None = None
        self.summary: ThresholdSummary | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumSize(360, 240)
        self.plot.setLabel("bottom", "completeness (recall)")
        self.plot.setLabel("left", "purity (precision)")
        self.plot.setXRange(0, 1)
        self.plot.setYRange(0, 1.02)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.curve = self.plot.plot(pen=pg.mkPen(90, 170, 255, width=2))
        self.marker = self.plot.plot(symbol="o", symbolSize=10, symbolBrush=(255, 90, 60), pen=None)
        lay.addWidget(self.plot, 1)
        row = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, SLIDER_STEPS)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(MIN_CUT, 1.0)
        # The cut changes when the typing is done (Enter, or leaving the box), never on the way:
        # retyping "0.8" must not pass through a cut of 0 that selects every row.
        self.spin.setKeyboardTracking(False)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.01)
        self.spin.setPrefix("P(BHB) ≥ ")
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        lay.addLayout(row)
        self.numbers = QLabel("no validation results for this model")
        lay.addWidget(self.numbers)
        self.slider.valueChanged.connect(lambda v: self.set_cut(v / SLIDER_STEPS))
        self.spin.valueChanged.connect(self.set_cut)
        self._cut = -1.0
        self.set_cut(cut)

    @property
    def cut(self) -> float:
        return self._cut

    def set_validation(self, labels: np.ndarray | None, p_bhb: np.ndarray | None) -> None:
        self._labels, self._p = labels, p_bhb
        self._update()

    def typed_cut_ok(self) -> bool:
        """Whether the text in the box is a cut (the box restores the last one on leaving otherwise)."""
        return self.spin.lineEdit().hasAcceptableInput()

    def set_cut(self, cut: float) -> None:
        cut = float(round(min(max(cut, MIN_CUT), 1.0), 3))
        if cut == self._cut:
            return
        self._cut = cut
        self.slider.blockSignals(True)
        self.slider.setValue(round(cut * SLIDER_STEPS))
        self.slider.blockSignals(False)
        self.spin.blockSignals(True)
        self.spin.setValue(cut)
        self.spin.blockSignals(False)
        self._update()
        self.sigCutChanged.emit(cut)

    def _update(self) -> None:
        if self._labels is None or self._p is None:
            self.summary = None
            self.curve.setData([], [])
            self.marker.setData([], [])
            self.numbers.setText("no validation results for this model")
            return
        s = threshold_summary(self._labels, self._p, self._cut)
        self.summary = s
        self.curve.setData(np.asarray(s.recall, dtype=float), np.asarray(s.precision, dtype=float))
        if np.isfinite(s.purity) and np.isfinite(s.completeness):
            self.marker.setData([s.completeness], [s.purity])
        else:
            self.marker.setData([], [])
        self.numbers.setText(
            f"at P(BHB) ≥ {s.cut:.3f}: purity {100 * s.purity:.1f} %, completeness {100 * s.completeness:.1f} % "
            f"({s.n_selected} of {s.n_val} validation stars selected)"
        )


def documents_folder() -> Path:
    """The user's documents folder, where the demo's exports go; home where the platform names none
    or the named one does not exist (a fresh account often has no ~/Documents: the first export failed)."""
    from PySide6.QtCore import QStandardPaths

    found = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(found) if found and Path(found).is_dir() else Path.home()


class ExportDialog(QDialog):
    """Choose format, rows and (for model-accepted rows) the cut; write the file in the background."""

    sigExported = Signal(str)

    def __init__(self, parent: QWidget | None, inputs: dict[str, Any], runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export the vetted catalog")
        self.inputs = inputs
        self.runner = runner or TaskRunner(self)
        self.exported: Path | None = None
        form = QFormLayout()
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(FORMAT_CHOICES))
        self.selection_combo = QComboBox()
        for sel in Selection:
            self.selection_combo.addItem(SELECTION_TEXT[sel], sel.value)
        self.selection_combo.setToolTip("model-accepted rows: the model's call at the cut, except that a star "
                                        "a person called BHB is kept and one called anything else but "
                                        "'unsure' is left out, whatever its score")
        self.path_edit = QLineEdit()
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        form.addRow("format", self.format_combo)
        form.addRow("rows", self.selection_combo)
        form.addRow("file", path_row)
        self.chooser = ThresholdChooser(self)
        self.rows_label = QLabel("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close)
        self.buttons.accepted.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("Threshold for model-accepted rows (validation precision–recall):"))
        lay.addWidget(self.chooser, 1)
        lay.addWidget(self.rows_label)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)

        self.format_combo.currentTextChanged.connect(self._format_changed)
        self.selection_combo.currentIndexChanged.connect(self._update_rows)
        self.chooser.sigCutChanged.connect(self._update_rows)
        self.chooser.spin.lineEdit().textEdited.connect(self._update_save)
        self.path_edit.textChanged.connect(self._update_save)
        self._load_validation()
        catalog_file = Path(inputs["session"].catalog.path) if inputs.get("session") is not None else Path("catalog")
        self.path_edit.setText(str(default_export_path(catalog_file, documents_folder())))
        self._update_rows()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter confirms a typed cut or file name; it never writes the file (that is the Save button)."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)

    def _load_validation(self) -> None:
        try:
            curve = validation_curve(self.inputs.get("checkpoint"))
        except BadInputError as exc:
            self.chooser.numbers.setText(f"no validation curve: {exc.problem}")
            return
        if curve is not None:
            self.chooser.set_validation(*curve)

    @property
    def selection(self) -> Selection:
        return Selection(self.selection_combo.currentData())

    def set_selection(self, selection: Selection | str) -> None:
        self.selection_combo.setCurrentIndex(self.selection_combo.findData(Selection(selection).value))

    def set_format(self, name: str) -> None:
        self.format_combo.setCurrentText(name)

    def _format_changed(self, name: str) -> None:
        path = Path(self.path_edit.text())
        if self.path_edit.text():
            self.path_edit.setText(str(path.with_name(path.name.split(".")[0] + FORMAT_CHOICES[name][1])))

    def _browse(self) -> None:
        name = self.format_combo.currentText()
        pattern = f"{name} (*{FORMAT_CHOICES[name][1]})"
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), pattern)
        if path:
            self.path_edit.setText(path)

    def _update_rows(self) -> None:
        if self.selection is Selection.MODEL_ACCEPTED and self.inputs.get("catalog") is not None:
            n = accepted_counts(self.inputs, self.chooser.cut)
            text = f"{n.rows} candidates exported: {n.by_score} have P(BHB) ≥ {self.chooser.cut:.3f}"
            if n.removed:
                text += f", less {n.removed} a person called not BHB"
            if n.added:
                text += f", plus {n.added} below the cut a person called BHB"
            self.rows_label.setText(text)
        else:
            self.rows_label.setText("")
        self.chooser.setEnabled(self.selection is Selection.MODEL_ACCEPTED)
        self._update_save()

    def _update_save(self) -> None:
        """Save only with a file name and, for model-accepted rows, a cut that is really typed in."""
        problem = ""
        if not self.path_edit.text().strip():
            problem = "choose a file to write"
        elif self.selection is Selection.MODEL_ACCEPTED and not self.chooser.typed_cut_ok():
            problem = "the cut must be a number between 0.001 and 1"
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(not problem)
        if problem or self.status.text().startswith(("choose a file", "the cut must")):
            self.status.setText(problem)

    def export(self) -> None:
        """Write the file (temporary name, then rename) on a worker; the dialog says when it is done."""
        if not self.buttons.button(QDialogButtonBox.StandardButton.Save).isEnabled():
            return  # Enter in a field reaches here too: the same checks as the button
        path = Path(self.path_edit.text()).expanduser()
        fmt = FORMAT_CHOICES[self.format_combo.currentText()][0]
        job = export_task(path, self.inputs, fmt, self.selection, self.chooser.cut, self.chooser.summary)
        self.status.setText(f"writing {path.name}…")
        self.buttons.setEnabled(False)
        self.runner.submit("export", job, on_batch=self._written, on_error=self._failed,
                           on_done=lambda ok: self.buttons.setEnabled(True))

    def _written(self, path: Path) -> None:
        self.exported = Path(path)
        self.status.setText(f"written {path}")
        self.sigExported.emit(str(path))

    def _failed(self, message: str) -> None:
        self.status.setText(f"export failed: {message}")
