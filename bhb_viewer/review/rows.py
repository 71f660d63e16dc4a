"""The candidate list as column arrays: what the table shows, filtered and sorted by numpy.

Every column is a numpy array indexed by *source row* (the row of the catalog); the visible order
is one index array (view row -> source row) rebuilt by :meth:`CandidateRows.set_filter` and
:meth:`CandidateRows.sort`. A view redraws on three events: a reset (rows came or went), a
reorder (same rows, new order: a view keeps its selection) and changed cells.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from bhb_viewer.core.readers.quality import is_unreliable
from bhb_viewer.core.science.trust import is_ood
from bhb_viewer.core.sessions.verdicts import VerdictKind, disagrees
from bhb_viewer.review.events import Event
from bhb_viewer.review.filters import Filter, SortOrder, sort_order

__all__ = ["CandidateRows", "catalog_columns"]

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
            values = np.ma.filled(np.ma.asarray(table[names[alias]], dtype=np.float64), np.nan)
            return np.asarray(values, dtype=np.float64)
    return None


def catalog_columns(table: Table) -> dict[str, np.ndarray]:
    """The display arrays of a candidate table (missing magnitudes are NaN; colours from u, g, r).

    Parameters
    ----------
    table : astropy.table.Table
        A candidate table with an ``id`` column (row numbers are used without one).

    Returns
    -------
    dict of str to ndarray
        ``id`` (str), ``ra``, ``dec``, ``g``, ``u_g``, ``g_r`` (float64).
    """
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
    ra, dec = _float_column(table, "ra"), _float_column(table, "dec")
    return {
        "id": ids,
        "ra": nan if ra is None else ra,
        "dec": nan if dec is None else dec,
        "g": nan if g is None else g,
        "u_g": nan if u_g is None else u_g,
        "g_r": nan if g_r is None else g_r,
        # the known-star catalogues it is in (core.readers.known_stars; '' none) and the separation
        "known_as": np.asarray(table["known_as"]).astype(str) if "known_as" in table.colnames else np.full(n, ""),
        "known_sep": nan if (sep := _float_column(table, "known_sep_arcsec")) is None else sep,
    }


class CandidateRows:
    """The columns of one candidate list, its filter, sort order and decision cut.

    Parameters
    ----------
    cut : float
        P(BHB) at which the model's call turns BHB; it decides which verdicts disagree with it.

    Attributes
    ----------
    reset : Event
        Emitted with no argument after the set of visible rows changed (new list, new filter).
    about_to_reorder, reordered : Event
        Emitted around a sort: the same rows in a new order.
    cells_changed : Event
        ``(rows, names)``: source rows (None: all) whose columns ``names`` changed.
    """

    def __init__(self, cut: float = 0.5) -> None:
        self._cut = float(cut)
        self.cols: dict[str, np.ndarray] = {}
        self.n = 0
        self._order = np.zeros(0, dtype=np.int64)
        self._visible = np.zeros(0, dtype=np.int64)
        self._inverse: np.ndarray | None = None
        self.sort_by: SortOrder | None = None
        self.filter = Filter()
        self.reset = Event("rows reset")
        self.about_to_reorder = Event("rows about to reorder")
        self.reordered = Event("rows reordered")
        self.cells_changed = Event("cells changed")
        self.set_catalog(Table({"id": np.zeros(0, dtype=str)}))

    # -- data in ---------------------------------------------------------------------------
    def set_catalog(self, table: Table) -> None:
        """Show ``table``: unscored, unvetted, unfiltered and unsorted.

        Parameters
        ----------
        table : astropy.table.Table
            The candidate table (see :func:`catalog_columns`).
        """
        n = len(table)
        self.cols = catalog_columns(table)
        self.cols["p"] = np.full(n, np.nan)
        self.cols["p_spectrum"] = np.full(n, np.nan)  # the spectrum head's P(BHB)
        self.cols["p_image"] = np.full(n, np.nan)  # the image head's P(BHB)
        # which score p is: fusion, spectrum, image, spectrum+photometry
        self.cols["score_from"] = np.full(n, "", dtype=object)
        self.cols["classical"] = np.full(n, "", dtype=object)
        self.cols["kind"] = np.full(n, None, dtype=object)  # VerdictKind or None
        self.cols["verdict"] = np.full(n, "", dtype=object)  # its label, '' = unvetted
        self.cols["note"] = np.full(n, "", dtype=object)
        self.cols["disagrees"] = np.zeros(n, dtype=bool)
        self.cols["valid_fraction"] = np.full(n, np.nan)  # valid window pixels / 3522 (review.quality)
        self.cols["unreliable"] = np.zeros(n, dtype=bool)  # a score on this spectrum is unreliable
        self.cols["flags"] = np.full(n, "", dtype=object)  # core.science.trust's flags of the spectrum and its score
        self.cols["ood"] = np.zeros(n, dtype=bool)  # the flags say out of distribution
        self.n = n
        self._order = np.arange(n, dtype=np.int64)
        self.sort_by = None
        self.filter = Filter()
        self._apply()
        self.reset.emit()

    def set_scores(self, rows: np.ndarray, p: np.ndarray) -> None:
        """Fill P(BHB) for some source rows (NaN = not scored).

        Parameters
        ----------
        rows : ndarray of int
            Source rows.
        p : ndarray of float
            Their P(BHB), in the same order.
        """
        rows = np.asarray(rows, dtype=np.int64)
        self.cols["p"][rows] = p
        self._update_disagrees(rows[self.cols["verdict"][rows] != ""])
        self.cells_changed.emit(None, ("p", "verdict"))

    def set_valid_fractions(self, rows: np.ndarray, fractions: np.ndarray) -> None:
        """The valid window-pixel fraction of some source rows (NaN: unknown); their unreliable mark follows.

        Parameters
        ----------
        rows : ndarray of int
            Source rows.
        fractions : ndarray of float
            Their valid fractions, in the same order.
        """
        rows = np.asarray(rows, dtype=np.int64)
        fractions = np.asarray(fractions, dtype=np.float64)
        self.cols["valid_fraction"][rows] = fractions
        self.cols["unreliable"][rows] = is_unreliable(fractions) & np.isfinite(fractions)
        self.cells_changed.emit(None if len(rows) > 1 else rows, ("p",))

    def set_modality_scores(self, rows: np.ndarray, p_spectrum: np.ndarray, p_image: np.ndarray,
                            score_from: np.ndarray) -> None:
        """Each modality head's P(BHB) of some source rows and which score their ``p`` is.

        Parameters
        ----------
        rows : ndarray of int
            Source rows.
        p_spectrum, p_image : ndarray of float
            The spectrum head's and the image head's P(BHB) (NaN: none).
        score_from : ndarray of str
            'fusion', 'spectrum', 'image' or 'none': what ``p`` of each row comes from.
        """
        rows = np.asarray(rows, dtype=np.int64)
        self.cols["p_spectrum"][rows] = p_spectrum
        self.cols["p_image"][rows] = p_image
        self.cols["score_from"][rows] = score_from
        self.cells_changed.emit(None, ("p",))

    def clear_scores(self) -> None:
        """Forget every score (a new model is about to score the list)."""
        self.cols["p_spectrum"][:] = np.nan
        self.cols["p_image"][:] = np.nan
        self.cols["score_from"][:] = ""
        self.set_scores(np.arange(self.n), np.full(self.n, np.nan))

    @property
    def cut(self) -> float:
        """P(BHB) at which the model's call turns BHB."""
        return self._cut

    def set_cut(self, cut: float) -> None:
        """Move the decision cut; which verdicts disagree with the model is recomputed.

        Parameters
        ----------
        cut : float
            The new cut, in [0, 1].
        """
        if not 0.0 <= cut <= 1.0:
            raise ValueError(f"the decision cut must lie in [0, 1], not {cut}")
        self._cut = float(cut)
        self.cols["disagrees"][:] = False
        self._update_disagrees(np.flatnonzero(self.cols["verdict"] != ""))
        self.cells_changed.emit(None, ("verdict",))

    def _update_disagrees(self, rows: np.ndarray) -> None:
        kind, p, flag = self.cols["kind"], self.cols["p"], self.cols["disagrees"]
        for row in rows:
            flag[row] = disagrees(kind[row], float(p[row]), self._cut)

    def set_flags(self, rows: np.ndarray, flags: np.ndarray) -> None:
        """The trust flags (core.science.trust) of some source rows; their out-of-distribution mark follows."""
        rows = np.asarray(rows, dtype=np.int64)
        self.cols["flags"][rows] = np.asarray(flags, dtype=str)
        self.cols["ood"][rows] = is_ood(np.asarray(flags, dtype=str))
        if self.filter.hide_flagged:
            self.refilter()
        else:
            self.cells_changed.emit(None, ("flags", "ood"))

    def set_classical(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """The classical Balmer-line call ('pass', 'fail', 'no fit') of some source rows."""
        self.cols["classical"][np.asarray(rows, dtype=np.int64)] = labels
        self.cells_changed.emit(None, ("classical",))

    def set_human(self, row: int, kind: VerdictKind | None, note: str) -> None:
        """One row's human verdict (None = unvetted) and note.

        Parameters
        ----------
        row : int
            Source row.
        kind : VerdictKind or None
            The verdict in force.
        note : str
            The note in force ('' for none).
        """
        self._put_human(row, kind, note)
        self._update_disagrees(np.array([row]))
        self.cells_changed.emit(np.array([row]), ("verdict", "note"))

    def set_all_human(self, states: dict[int, tuple[VerdictKind | None, str]]) -> None:
        """Replace every row's verdict and note (rows absent from ``states`` become unvetted).

        Parameters
        ----------
        states : dict of int to (VerdictKind or None, str)
            Source row -> (verdict, note).
        """
        for name, empty in (("kind", None), ("verdict", ""), ("note", "")):
            self.cols[name][:] = empty
        for row, (kind, note) in states.items():
            self._put_human(row, kind, note)
        self.cols["disagrees"][:] = False
        self._update_disagrees(np.fromiter(states, dtype=np.int64, count=len(states)))
        self.cells_changed.emit(None, ("verdict", "note"))

    def _put_human(self, row: int, kind: VerdictKind | None, note: str) -> None:
        self.cols["kind"][row] = kind
        self.cols["verdict"][row] = "" if kind is None else kind.label
        self.cols["note"][row] = note

    # -- data out --------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """The column ``name``, indexed by source row (the array itself: do not write into it)."""
        return self.cols[name]

    def disagrees(self, row: int) -> bool:
        """Whether the verdict of source ``row`` contradicts the model's call at the cut."""
        return bool(self.cols["disagrees"][row])

    def visible_rows(self) -> np.ndarray:
        """Source rows in display order (view row -> source row)."""
        return self._visible

    def source_row(self, view_row: int) -> int:
        """The source row shown at ``view_row``."""
        return int(self._visible[view_row])

    def view_row(self, source_row: int) -> int:
        """The view row showing ``source_row``, or -1 if it is filtered out."""
        if self._inverse is None:
            inverse = np.full(self.n, -1, dtype=np.int64)
            inverse[self._visible] = np.arange(len(self._visible))
            self._inverse = inverse
        return int(self._inverse[source_row]) if 0 <= source_row < self.n else -1

    # -- sorting and filtering -------------------------------------------------------------
    def sort(self, order: SortOrder | None) -> None:
        """Sort by ``order`` (None: catalog order); the filter stays.

        Parameters
        ----------
        order : SortOrder or None
            Column name and direction.
        """
        self.about_to_reorder.emit()
        self.sort_by = order
        self._order = self._sorted()
        self._apply()
        self.reordered.emit()

    def set_filter(self, filter_: Filter) -> None:
        """Show only the rows ``filter_`` keeps, in the current sort order.

        Parameters
        ----------
        filter_ : Filter
            The new filter.
        """
        self.filter = filter_
        self._apply()
        self.reset.emit()

    def set_known(self, known_as: np.ndarray, sep: np.ndarray) -> None:
        """New known-star matches of every row (a new catalogue of known stars): the cells change and,
        while "not yet catalogued" filters the list, the visible rows with them."""
        self.cols["known_as"] = np.asarray(known_as).astype(str)
        self.cols["known_sep"] = np.asarray(sep, dtype=np.float64)
        self.cells_changed.emit(None, ("known_as", "known_sep"))
        if self.filter.not_catalogued:
            self.refilter()

    def refilter(self) -> None:
        """Re-apply the sort order and the filter after the columns changed (e.g. scores arrived)."""
        self._order = self._sorted()
        self._apply()
        self.reset.emit()

    def _sorted(self) -> np.ndarray:
        if self.sort_by is None:
            return np.arange(self.n, dtype=np.int64)
        key = self.cols[self.sort_by.column]
        return sort_order(key if key.dtype.kind in "fU" else key.astype(str), self.sort_by.descending)

    def _apply(self) -> None:
        keep = self.filter.keep(self.cols)
        self._visible = self._order[keep[self._order]]
        self._inverse = None
