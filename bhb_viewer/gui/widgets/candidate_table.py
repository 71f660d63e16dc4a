"""The candidate table: a Qt model drawing :class:`bhb_viewer.review.rows.CandidateRows`.

The rows object holds the columns, the filter, the sort order and the decision cut (numpy, no
Qt); this model only turns its events into Qt's (reset, layout change, changed cells) and asks it
for the few cells the view draws. Qt's ``QSortFilterProxyModel`` is not used: it compares rows
one Python call at a time, which stalls on 100,000 rows.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from PySide6.QtCore import QAbstractTableModel, QItemSelectionModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from bhb_viewer.core.science.trust import explain
from bhb_viewer.core.sessions.verdicts import VerdictKind
from bhb_viewer.review.filters import STATE_FILTERS, Filter, SortOrder
from bhb_viewer.review.navigation import most_uncertain, next_unvetted
from bhb_viewer.review.rows import CandidateRows

__all__ = ["COLUMNS", "STATE_FILTERS", "CandidateTableModel", "CandidateTableView"]

COLUMNS = ("id", "RA", "Dec", "g", "u−g", "g−r", "P(BHB)", "cuts", "verdict", "note")  # through verdict in 605 px
HEADER_TIPS = {"cuts": "the classical Xue et al. (2011) Balmer-line cuts: pass, fail or no fit",
               "verdict": "your verdict; a red ≠ marks one the model's call at the cut differs from"}
COL_ID, COL_RA, COL_DEC, COL_G, COL_UG, COL_GR, COL_P, COL_CLASSICAL, COL_VERDICT, COL_NOTE = range(len(COLUMNS))
# the widest value each column shows in practice (ids: the longest of the list's first ID_SAMPLE)
DISAGREE_MARK = " ≠"  # red, after a verdict the model's call differs from (" ≠ model" cost the column 45 px)
COLUMN_SAMPLES = {COL_ID: "sim-2026-000000", COL_RA: "359.9999", COL_DEC: "-89.9999", COL_G: "19.99",
                  COL_UG: "-0.99", COL_GR: "-0.99", COL_P: "0.999", COL_CLASSICAL: "no fit",
                  COL_VERDICT: max((k.label for k in VerdictKind), key=len) + DISAGREE_MARK}
ID_SAMPLE = 2000
SORT_ARROW_PX = 22  # a header's sort indicator and margins
CELL_PAD_PX = 8  # the item view's text margins (4 px a side)
MAX_COLUMN_PX = 220  # a very long id is elided in the middle beyond this
NOTE_PX = 200
_ONE_HEAD = ("spectrum", "image")  # score_from of a star scored with one modality
_ROOT = QModelIndex()  # the invalid index: a table's rows hang off it
# the CandidateRows column behind each table column
_NAMES = ("id", "ra", "dec", "g", "u_g", "g_r", "p", "classical", "verdict", "note")
_FLOAT_FORMATS = {COL_RA: "{:.4f}", COL_DEC: "{:.4f}", COL_G: "{:.2f}", COL_UG: "{:.2f}", COL_GR: "{:.2f}",
                  COL_P: "{:.3f}"}


class CandidateTableModel(QAbstractTableModel):
    """Rows are candidates of a :class:`CandidateRows`; view row -> source row is its visible order.

    Parameters
    ----------
    parent : QWidget or None
    cut : float
        The decision cut of a rows object made here (ignored when ``rows`` is given).
    rows : CandidateRows or None
        The review's list; a private one when None (a stand-alone table).
    """

    def __init__(self, parent: QWidget | None = None, cut: float = 0.5, rows: CandidateRows | None = None) -> None:
        super().__init__(parent)
        self.rows = rows if rows is not None else CandidateRows(cut)
        self._persistent: list[QModelIndex] = []
        self._persistent_rows: list[int] = []
        self.rows.reset.connect(self._reset)
        self.rows.about_to_reorder.connect(self._about_to_reorder)
        self.rows.reordered.connect(self._reordered)
        self.rows.cells_changed.connect(self._cells_changed)

    # -- events of the rows object ----------------------------------------------------------
    def _reset(self) -> None:
        # The rows changed already; views hold no cell between these two calls, so the late
        # begin is harmless, and it keeps CandidateRows free of a "before" event for every change.
        self.beginResetModel()
        self.endResetModel()

    def _about_to_reorder(self) -> None:
        self.layoutAboutToBeChanged.emit()
        # Persistent indexes (the current row, the selection) follow their candidate, not their row.
        self._persistent = self.persistentIndexList()
        self._persistent_rows = [self.rows.source_row(i.row()) for i in self._persistent]

    def _reordered(self) -> None:
        views = [self.rows.view_row(src) for src in self._persistent_rows]
        moved = [self.index(v, i.column()) if v >= 0 else QModelIndex()
                 for v, i in zip(views, self._persistent, strict=True)]
        self.changePersistentIndexList(self._persistent, moved)
        self._persistent, self._persistent_rows = [], []
        self.layoutChanged.emit()

    def _cells_changed(self, rows: np.ndarray | None, names: tuple[str, ...]) -> None:
        cols = [_NAMES.index(n) for n in names if n in _NAMES]
        if not cols or not self.rowCount():
            return
        first, last = min(cols), max(cols)
        if rows is None:
            self.dataChanged.emit(self.index(0, first), self.index(self.rowCount() - 1, last))
            return
        for row in rows:
            view = self.rows.view_row(int(row))
            if view >= 0:
                self.dataChanged.emit(self.index(view, first), self.index(view, last))

    # -- the rows object's API, for a stand-alone table ----------------------------------------
    @property
    def cut(self) -> float:
        return self.rows.cut

    def set_catalog(self, table: Table) -> None:
        self.rows.set_catalog(table)

    def set_scores(self, rows: np.ndarray, p: np.ndarray) -> None:
        """Fill P(BHB) for some source rows (NaN = not scored)."""
        self.rows.set_scores(rows, p)

    def clear_scores(self) -> None:
        self.rows.clear_scores()

    def set_classical(self, rows: np.ndarray, labels: np.ndarray) -> None:
        self.rows.set_classical(rows, labels)

    def set_human(self, row: int, kind: VerdictKind | None, note: str) -> None:
        """One row's human verdict (None = unvetted) and note."""
        self.rows.set_human(row, kind, note)

    def set_all_human(self, states: dict[int, tuple[VerdictKind | None, str]]) -> None:
        self.rows.set_all_human(states)

    def column(self, name: str) -> np.ndarray:
        return self.rows.column(name)

    @property
    def n_total(self) -> int:
        return self.rows.n

    def source_row(self, view_row: int) -> int:
        return self.rows.source_row(view_row)

    def view_row(self, source_row: int) -> int:
        """The view row showing ``source_row``, or -1 if it is filtered out."""
        return self.rows.view_row(source_row)

    def visible_rows(self) -> np.ndarray:
        return self.rows.visible_rows()

    def disagrees(self, row: int) -> bool:
        return self.rows.disagrees(row)

    def set_filter(self, score_range: tuple[float, float] | None = None, state: str = "all", text: str = "") -> None:
        """Keep rows with P(BHB) in ``score_range`` (inclusive), in verdict ``state``, matching ``text``."""
        self.rows.set_filter(Filter(score_range, state, text))

    def refilter(self) -> None:
        """Re-apply the current sort and filter after the underlying columns changed."""
        self.rows.refilter()

    def next_unvetted(self, after_view_row: int) -> int:
        """The first unvetted view row after ``after_view_row`` (wrapping), or -1."""
        return next_unvetted(self.rows, after_view_row)

    def most_uncertain(self, exclude_source: int = -1) -> int:
        """The visible unvetted, scored view row with P(BHB) closest to the cut, or -1."""
        return most_uncertain(self.rows, exclude_source)

    # -- Qt --------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows.visible_rows())

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(COLUMNS[section])
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows.source_row(index.row())
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _FLOAT_FORMATS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if col == COL_VERDICT and self.rows.disagrees(row):
            if role == Qt.ItemDataRole.ForegroundRole:
                return QColor("#c0392b")
            if role == Qt.ItemDataRole.ToolTipRole:
                return "your verdict differs from the model's call at the cut"
        if col == COL_P and self.rows.column("ood")[row]:
            return self._flagged(row, role)
        if col == COL_P and self.rows.column("unreliable")[row]:
            return self._unreliable(row, role)
        if col == COL_P and role == Qt.ItemDataRole.ToolTipRole:
            score_from = self.rows.column("score_from")[row]
            if score_from in _ONE_HEAD:
                return f"P(BHB) from the {score_from} head alone"
            if score_from == "spectrum+photometry":
                return "P(BHB) from the spectrum and colours (no cutouts)"
        return None

    def _flagged(self, row: int, role: int):
        """The P(BHB) cell of a score flagged out of distribution (core.science.trust): struck through in grey on
        light red, the reasons as a tooltip; the verdict panel says them in words."""
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor("#7f7f7f")
        if role == Qt.ItemDataRole.BackgroundRole:
            return QColor("#f9d6d5")
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setStrikeOut(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return "not to be trusted: " + "; ".join(explain(self.rows.column("flags")[row]))
        return None

    def _unreliable(self, row: int, role: int):
        """The P(BHB) cell of a score made on too few valid pixels: orange on light orange (the column
        keeps its width), with the reason as a tooltip; the verdict panel says it in words."""
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor("#b35900")
        if role == Qt.ItemDataRole.BackgroundRole:
            return QColor("#fde3c8")
        if role == Qt.ItemDataRole.ToolTipRole:
            fraction = self.rows.column("valid_fraction")[row]
            return f"unreliable: only {fraction:.0%} of the spectrum's window pixels are valid"
        return None

    def _display(self, row: int, col: int) -> str:
        value = self.rows.column(_NAMES[col])[row]
        if col in _FLOAT_FORMATS:
            return "" if not np.isfinite(value) else _FLOAT_FORMATS[col].format(value)
        if col == COL_VERDICT:
            return value + (DISAGREE_MARK if self.rows.disagrees(row) else "")
        return str(value)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not self.rows.n or column < 0:
            return
        self.rows.sort(SortOrder(_NAMES[column], order == Qt.SortOrder.DescendingOrder))


class CandidateTableView(QTableView):
    """A read-only, row-selecting table view that leaves letter keys to the window's verdict shortcuts.

    (QTableView's type-ahead search would jump rows on keys that are not shortcuts.)
    """

    sigCurrentSourceRow = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # SDSS → Fetch for the selection
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSortingEnabled(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # long ids keep their distinct ending
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(20)
        self.horizontalHeader().setStretchLastSection(True)
        self.setAlternatingRowColors(True)
        font = self.font()
        font.setPointSizeF(font.pointSizeF() - 1)  # ten columns in the left pane of a 1280-px window
        self.setFont(font)

    def setModel(self, model: CandidateTableModel) -> None:  # type: ignore[override]
        super().setModel(model)
        self._table = model
        self.size_columns()
        self.selectionModel().currentRowChanged.connect(self._current_changed)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

    def size_columns(self) -> None:
        """Each column as wide as its header (with the sort arrow) or its widest typical value, so
        headers read whole; the note column, last, keeps a usable width and is reached by scrolling."""
        cells, header = self.fontMetrics(), self.horizontalHeader().fontMetrics()
        table = self._table
        ids = table.column("id")[:ID_SAMPLE] if table.n_total else ()
        samples = dict(COLUMN_SAMPLES)
        samples[COL_ID] = max((str(c) for c in ids), key=len, default=samples[COL_ID])
        for col, sample in samples.items():
            heading = header.horizontalAdvance(COLUMNS[col]) + SORT_ARROW_PX
            self.setColumnWidth(col, min(max(heading, cells.horizontalAdvance(sample) + CELL_PAD_PX), MAX_COLUMN_PX))
        self.horizontalHeader().setMinimumSectionSize(min(self.columnWidth(c) for c in samples))
        self.setColumnWidth(COL_NOTE, NOTE_PX)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.sigCurrentSourceRow.emit(self._table.source_row(current.row()))

    def select_view_row(self, view_row: int) -> None:
        model = self.model()
        if 0 <= view_row < model.rowCount():
            index = model.index(view_row, 0)
            # explicit ClearAndSelect: setCurrentIndex reads the held modifiers, and the Ctrl of Ctrl+Z
            # would add the row to the old one (two rows highlighted after an undo)
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            self.selectionModel().setCurrentIndex(index, flags)
            self.scrollTo(index)

    def set_scores_hidden(self, hidden: bool) -> None:
        """A blind audit hides the scores: the P(BHB) column goes while it runs."""
        self.setColumnHidden(COL_P, hidden)

    def width_through(self, col: int) -> int:
        """Pixels the view needs to show columns 0..``col`` whole, with its frame and scroll bar."""
        columns = sum(self.columnWidth(c) for c in range(col + 1))
        return columns + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def selected_source_rows(self) -> np.ndarray:
        """Source rows of the selected table rows, in view order."""
        views = sorted(index.row() for index in self.selectionModel().selectedRows())
        return np.array([self._table.source_row(v) for v in views], dtype=np.int64)

    def current_source_row(self) -> int:
        index = self.currentIndex()
        return self._table.source_row(index.row()) if index.isValid() else -1

    def keyboardSearch(self, search: str) -> None:
        """Type-ahead search is off: letters are verdict keys."""
