"""Team → Audit results: the blind audit's purity and its selection function, plotted, with a VOTable to save.

The numbers are :func:`bhb_viewer.core.sessions.selection_function.audit_selection_function`'s, the same as
``bhb sessions audit --selection-function`` writes; the dialog opens at once and fills in when the
review's background job has read the list (see :meth:`bhb_viewer.review.team.TeamReview.selection_function`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bhb_viewer.core.sessions.selection_function import AXIS_LABELS, AuditSelection, write_votable

__all__ = ["SelectionFunctionDialog", "ask_votable_path"]

COLUMNS = ("source", "axis", "bin", "stars", "purity [95 %]", "completeness [95 %]", "note")
CURVES = (("purity", (31, 119, 180)), ("completeness", (255, 127, 14)))  # blue and orange, as the CLI's PNG


def ask_votable_path(parent: QWidget) -> Path | None:
    """Where the person saves the selection function (None when cancelled)."""
    path, _ = QFileDialog.getSaveFileName(parent, "Save the selection function", "selection_function.vot",
                                          "VOTable (*.vot *.xml)")
    return Path(path) if path else None


def _interval(value: float, lo: float, hi: float) -> str:
    return "—" if not np.isfinite(value) else f"{value:.2f} [{lo:.2f}, {hi:.2f}]"


class SelectionFunctionDialog(QDialog):
    """The audit's result in words, purity and completeness against g, g−r and S/N, the bins as a
    table with their notes, and *Save VOTable…*.

    Parameters
    ----------
    parent : QWidget
    summary : str
        The audit's overall result in words (purity, interval, how many judged).

    Attributes
    ----------
    selection : AuditSelection or None
        What is shown (None until the job delivers it).
    plots : dict of str to pyqtgraph.PlotItem
        One panel per axis.
    """

    def __init__(self, parent: QWidget, summary: str) -> None:
        super().__init__(parent)
        self.setWindowTitle("Audit results: selection function")
        self.resize(980, 640)
        self.selection: AuditSelection | None = None
        self.plots: dict[str, pg.PlotItem] = {}
        layout = QVBoxLayout(self)
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.status = QLabel("computing the selection function…")
        layout.addWidget(self.status)
        self.graphics = pg.GraphicsLayoutWidget()
        layout.addWidget(self.graphics, 3)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table, 2)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        layout.addWidget(self.notes)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save VOTable…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(lambda: self.save_votable())
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)

    def show_result(self, result: AuditSelection) -> None:
        """Draw ``result``: one panel per axis of the source it shows, every bin in the table."""
        self.selection = result
        self.status.setText(f"{result.title}: {len(result.table)} bins from {result.provenance['SOURCES']}")
        self._plot(result)
        self.table.setRowCount(len(result.table))
        for i, row in enumerate(result.table):
            cells = (str(row["source"]), str(row["axis"]), f"{row['lo']:.3g} – {row['hi']:.3g}", str(int(row["n"])),
                     _interval(row["purity"], row["purity_lo"], row["purity_hi"]),
                     _interval(row["completeness"], row["completeness_lo"], row["completeness_hi"]), str(row["note"]))
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        notes = result.notes()
        self.notes.setText("Too few stars: " + "; ".join(notes) + "." if notes else "Every bin has enough stars.")
        self.save_button.setEnabled(True)

    def _plot(self, result: AuditSelection) -> None:
        self.graphics.clear()
        self.plots = {}
        rows = result.rows_shown()
        for axis in dict.fromkeys(str(a) for a in rows["axis"]):
            panel = self.graphics.addPlot(title=AXIS_LABELS.get(axis, axis))
            panel.setLabel("left", "fraction (95 % Wilson)")
            panel.setYRange(0.0, 1.05)
            panel.addLegend(offset=(5, 5))
            mine = rows[rows["axis"] == axis]
            lo_edge, hi_edge = np.asarray(mine["lo"], float), np.asarray(mine["hi"], float)
            x, half = 0.5 * (lo_edge + hi_edge), 0.5 * (hi_edge - lo_edge)
            for name, colour in CURVES:
                y = np.asarray(mine[name], float)
                ok = np.isfinite(y)
                if not ok.any():
                    continue
                lo, hi = np.asarray(mine[f"{name}_lo"], float)[ok], np.asarray(mine[f"{name}_hi"], float)[ok]
                panel.addItem(pg.ErrorBarItem(x=x[ok], y=y[ok], top=np.clip(hi - y[ok], 0, None),
                                              bottom=np.clip(y[ok] - lo, 0, None), left=half[ok], right=half[ok],
                                              pen=pg.mkPen(colour)))
                panel.plot(x[ok], y[ok], pen=None, symbol="o", symbolBrush=colour, symbolPen=colour, name=name)
            self.plots[axis] = panel

    def show_error(self, message: str) -> None:
        """The job failed (the list cannot be read): say so where the plot would be."""
        self.status.setText(f"cannot compute the selection function: {message}")

    def save_votable(self, path: Path | None = None) -> Path | None:
        """Write the selection function as a VOTable (asks where when ``path`` is None); the path written, or None."""
        if self.selection is None:
            return None
        path = path or ask_votable_path(self)
        if path is None:
            return None
        try:
            write_votable(self.selection.table, path, self.selection.provenance)
        except OSError as exc:
            self.status.setText(f"cannot write {path}: {exc}")
            return None
        self.status.setText(f"saved to {path}")
        return path
