"""The candidate table: a Qt model over column arrays, with numpy sorting and filtering.

Qt's ``QSortFilterProxyModel`` compares rows one Python call at a time, which stalls on
100,000 rows; here sort and filter are numpy operations producing one index array
(view row -> source row), so the view only ever asks for the few cells it draws.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from bhb_viewer.core.verdicts import VerdictKind, disagrees

COLUMNS = ("id", "RA", "Dec", "g", "u−g", "g−r", "P(BHB)", "classical", "verdict", "note")
COL_ID, COL_RA, COL_DEC, COL_G, COL_UG, COL_GR, COL_P, COL_CLASSICAL, COL_VERDICT, COL_NOTE = range(len(COLUMNS))
_FLOAT_FORMATS = {COL_RA: "{:.4f}", COL_DEC: "{:.4f}", COL_G: "{:.2f}", COL_UG: "{:.2f}", COL_GR: "{:.2f}", COL_P: "{:.3f}"}

# Verdict-state filters offered by the window; "disagrees" needs the model-call array.
STATE_FILTERS = ("all", "unvetted", "vetted", "disagrees")

_MAG_NAMES = {
    "g": ("g", "gmag", "g_mag", "psfmag_g", "mag_g"),
    "u": ("u", "umag", "u_mag", "psfmag_u", "mag_u"),
    "r": ("r", "rmag", "r_mag", "psfmag_r", "mag_r"),
    "u_g": ("u_g", "u-g", "ug", "umg", "u_g0", "ug0"),
    "g_r": ("g_r", "g-r", "gr", "gmr", "g_r0", "gr0"),
}


def _float_column(table: Table, key: str) -> np.ndarray | None:
    """The first column of ``table`` known under one of the names of ``key``, as float64."""
    names = {n.lower(): n for n in table.colnames}
    for alias in _MAG_NAMES.get(key, (key,)):
        if alias in names:
            col = table[names[alias]]
            values = np.ma.filled(np.ma.asarray(col, dtype=np.float64), np.nan)
            return np.asarray(values, dtype=np.float64)
    return None


def catalog_columns(table: Table) -> dict[str, np.ndarray]:
    """The display arrays of a candidate table (missing magnitudes are NaN; colours from u, g, r)."""
    n = len(table)
    nan = np.full(n, np.nan)
    g = _float_column(table, "g")
    u_g = _float_column(table, "u_g")
    g_r = _float_column(table, "g_r")
    if u_g is None and g is not None and (u := _float_column(table, "u")) is not None:
        u_g = u - g
    if g_r is None and g is not None and (r := _float_column(table, "r")) is not None:
        g_r = g - r
    ids = np.asarray(table["id"]).astype(str) if "id" in table.colnames else np.arange(n).astype(str)
    return {
        "id": ids,
        "ra": _float_column(table, "ra") if "ra" in table.colnames else nan,
        "dec": _float_column(table, "dec") if "dec" in table.colnames else nan,
        "g": nan if g is None else g,
        "u_g": nan if u_g is None else u_g,
        "g_r": nan if g_r is None else g_r,
    }


class CandidateTableModel(QAbstractTableModel):
    """Rows are candidates; every column is a numpy array indexed by source row.

    ``view -> source`` is the array ``self._visible``; sorting and filtering rebuild it.
    """

    def __init__(self, parent: QWidget | None = None, cut: float = 0.5) -> None:
        super().__init__(parent)
        self.cut = cut  # P(BHB) at which the model's call turns BHB, for the disagreement marker
        self._cols: dict[str, np.ndarray] = {}
        self._n = 0
        self._visible = np.zeros(0, dtype=np.int64)
        self._order = np.zeros(0, dtype=np.int64)
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._filter: tuple[tuple[float, float] | None, str, str] = (None, "all", "")
        self._source_to_view: np.ndarray | None = None

    # -- data in ---------------------------------------------------------------------------
    def set_catalog(self, table: Table) -> None:
        self.beginResetModel()
        n = len(table)
        self._cols = catalog_columns(table)
        self._cols["p"] = np.full(n, np.nan)
        self._cols["classical"] = np.full(n, "", dtype=object)
        self._cols["kind"] = np.full(n, None, dtype=object)  # VerdictKind or None
        self._cols["verdict"] = np.full(n, "", dtype=object)  # its label, '' = unvetted
        self._cols["note"] = np.full(n, "", dtype=object)
        self._cols["disagrees"] = np.zeros(n, dtype=bool)
        self._n = n
        self._order = np.arange(n, dtype=np.int64)
        self._sort = None
        self._filter = (None, "all", "")
        self._visible = self._order.copy()
        self._source_to_view = None
        self.endResetModel()

    def set_scores(self, rows: np.ndarray, p: np.ndarray) -> None:
        """Fill P(BHB) for some source rows (NaN = not scored)."""
        rows = np.asarray(rows, dtype=np.int64)
        self._cols["p"][rows] = p
        vetted = rows[self._cols["verdict"][rows] != ""]
        self._update_disagrees(vetted)
        self._column_changed(COL_P, COL_VERDICT)

    def clear_scores(self) -> None:
        self.set_scores(np.arange(self._n), np.full(self._n, np.nan))

    def _update_disagrees(self, rows: np.ndarray) -> None:
        kind, p, flag = self._cols["kind"], self._cols["p"], self._cols["disagrees"]
        for row in rows:
            flag[row] = disagrees(kind[row], float(p[row]), self.cut)

    def set_classical(self, rows: np.ndarray, labels: np.ndarray) -> None:
        self._cols["classical"][np.asarray(rows, dtype=np.int64)] = labels
        self._column_changed(COL_CLASSICAL)

    def set_human(self, row: int, kind: VerdictKind | None, note: str) -> None:
        """One row's human verdict (None = unvetted) and note."""
        self._cols["kind"][row] = kind
        self._cols["verdict"][row] = "" if kind is None else kind.label
        self._cols["note"][row] = note
        self._update_disagrees(np.array([row]))
        view = self.view_row(row)
        if view >= 0:
            self.dataChanged.emit(self.index(view, COL_VERDICT), self.index(view, COL_NOTE))

    def set_all_human(self, states: dict[int, tuple[VerdictKind | None, str]]) -> None:
        """Replace every row's verdict and note (rows absent from ``states`` become unvetted)."""
        for name, empty in (("kind", None), ("verdict", ""), ("note", "")):
            self._cols[name][:] = empty
        for row, (kind, note) in states.items():
            self._cols["kind"][row] = kind
            self._cols["verdict"][row] = "" if kind is None else kind.label
            self._cols["note"][row] = note
        self._cols["disagrees"][:] = False
        self._update_disagrees(np.fromiter(states, dtype=np.int64, count=len(states)))
        self._column_changed(COL_VERDICT, COL_NOTE)

    def _column_changed(self, first: int, last: int | None = None) -> None:
        if len(self._visible):
            self.dataChanged.emit(self.index(0, first), self.index(len(self._visible) - 1, last or first))

    # -- data out --------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        return self._cols[name]

    @property
    def n_total(self) -> int:
        return self._n

    def source_row(self, view_row: int) -> int:
        return int(self._visible[view_row])

    def view_row(self, source_row: int) -> int:
        """The view row showing ``source_row``, or -1 if it is filtered out."""
        if self._source_to_view is None:
            inverse = np.full(self._n, -1, dtype=np.int64)
            inverse[self._visible] = np.arange(len(self._visible))
            self._source_to_view = inverse
        return int(self._source_to_view[source_row]) if 0 <= source_row < self._n else -1

    def visible_rows(self) -> np.ndarray:
        return self._visible

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = int(self._visible[index.row()])
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _FLOAT_FORMATS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col == COL_VERDICT and self.disagrees(row):
            return QColor("#c0392b")
        return None

    def _display(self, row: int, col: int) -> str:
        if col == COL_ID:
            return str(self._cols["id"][row])
        if col in _FLOAT_FORMATS:
            key = ("", "ra", "dec", "g", "u_g", "g_r", "p")[col]
            value = self._cols[key][row]
            return "" if not np.isfinite(value) else _FLOAT_FORMATS[col].format(value)
        if col == COL_CLASSICAL:
            return self._cols["classical"][row]
        if col == COL_VERDICT:
            return self._cols["verdict"][row] + (" ≠ model" if self.disagrees(row) else "")
        return self._cols["note"][row]

    def disagrees(self, row: int) -> bool:
        return bool(self._cols["disagrees"][row])

    # -- sorting and filtering -------------------------------------------------------------
    def _sort_key(self, col: int) -> np.ndarray:
        if col == COL_ID:
            return self._cols["id"]
        if col in _FLOAT_FORMATS:
            return self._cols[("", "ra", "dec", "g", "u_g", "g_r", "p")[col]]
        name = {COL_CLASSICAL: "classical", COL_VERDICT: "verdict", COL_NOTE: "note"}[col]
        return self._cols[name].astype(str)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not self._n or column < 0:
            return
        self.layoutAboutToBeChanged.emit()
        # Persistent indexes (the current row, the selection) follow their candidate, not their row.
        persistent = self.persistentIndexList()
        sources = [int(self._visible[i.row()]) for i in persistent]
        key = self._sort_key(column)
        descending = order == Qt.SortOrder.DescendingOrder
        if key.dtype.kind == "f":
            # NaN (not scored, no magnitude) stays last in both directions.
            self._order = np.argsort(-key if descending else key, kind="stable")
        else:
            self._order = np.argsort(key, kind="stable")
            if descending:
                self._order = self._order[::-1].copy()
        self._sort = (column, order)
        self._apply_filter()
        moved = [self.index(self.view_row(src), i.column()) if self.view_row(src) >= 0 else QModelIndex()
                 for src, i in zip(sources, persistent)]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    def set_filter(self, score_range: tuple[float, float] | None = None, state: str = "all", text: str = "") -> None:
        """Keep rows with P(BHB) in ``score_range`` (inclusive), in verdict ``state``, matching ``text``."""
        if state not in STATE_FILTERS:
            raise ValueError(f"unknown verdict state filter {state!r}; expected one of {STATE_FILTERS}")
        self.beginResetModel()
        self._filter = (score_range, state, text.strip().lower())
        self._apply_filter()
        self.endResetModel()

    def refilter(self) -> None:
        """Re-apply the current sort and filter after the underlying columns changed."""
        if self._sort is not None:
            self.sort(*self._sort)
        else:
            self.set_filter(*self._filter)

    def _apply_filter(self) -> None:
        score_range, state, text = self._filter
        keep = np.ones(self._n, dtype=bool)
        if score_range is not None:
            p = self._cols["p"]
            with np.errstate(invalid="ignore"):
                keep &= (p >= score_range[0]) & (p <= score_range[1])
        if state != "all":
            vetted = self._cols["verdict"] != ""
            if state == "unvetted":
                keep &= ~vetted
            elif state == "vetted":
                keep &= vetted
            else:
                keep &= self._cols["disagrees"]
        if text:
            ids = np.char.lower(self._cols["id"].astype(str))
            notes = np.char.lower(self._cols["note"].astype(str))
            keep &= (np.char.find(ids, text) >= 0) | (np.char.find(notes, text) >= 0)
        self._visible = self._order[keep[self._order]]
        self._source_to_view = None

    # -- review navigation -----------------------------------------------------------------
    def next_unvetted(self, after_view_row: int) -> int:
        """The first unvetted view row after ``after_view_row`` (wrapping), or -1."""
        unvetted = np.flatnonzero(self._cols["verdict"][self._visible] == "")
        if not len(unvetted):
            return -1
        later = unvetted[unvetted > after_view_row]
        return int(later[0] if len(later) else unvetted[0])

    def most_uncertain(self, exclude_source: int = -1) -> int:
        """The visible unvetted, scored view row with P(BHB) closest to 0.5, or -1."""
        rows = self._visible
        p = self._cols["p"][rows]
        ok = (self._cols["verdict"][rows] == "") & np.isfinite(p) & (rows != exclude_source)
        if not ok.any():
            return -1
        distance = np.where(ok, np.abs(p - 0.5), np.inf)
        return int(np.argmin(distance))


class CandidateTableView(QTableView):
    """A read-only, row-selecting table view that leaves letter keys to the window's verdict shortcuts.

    (QTableView's type-ahead search would jump rows on keys that are not shortcuts.)
    """

    sigCurrentSourceRow = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
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
        widths = (112, 62, 58, 42, 40, 42, 50, 52, 80)  # fits the left pane of a 1280-px window
        for col, width in enumerate(widths):
            self.setColumnWidth(col, width)
        self.selectionModel().currentRowChanged.connect(self._current_changed)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.sigCurrentSourceRow.emit(self.model().source_row(current.row()))

    def select_view_row(self, view_row: int) -> None:
        model = self.model()
        if 0 <= view_row < model.rowCount():
            index = model.index(view_row, 0)
            self.setCurrentIndex(index)
            self.scrollTo(index)

    def current_source_row(self) -> int:
        index = self.currentIndex()
        return self.model().source_row(index.row()) if index.isValid() else -1

    def keyboardSearch(self, search: str) -> None:
        """Type-ahead search is off: letters are verdict keys."""
