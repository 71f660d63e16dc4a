"""The candidate table model: numpy sort/filter over columns, index mapping, review navigation."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from PySide6.QtCore import Qt

from bhb_viewer.core.sessions.verdicts import VerdictKind
from bhb_viewer.gui.widgets.candidate_table import (
    COL_G,
    COL_ID,
    COL_P,
    COL_UG,
    COL_VERDICT,
    CandidateTableModel,
)


def _model(n=6):
    t = Table({"id": [f"s{i}" for i in range(n)], "ra": np.arange(n) * 1.0, "dec": np.zeros(n),
               "u": np.arange(n) + 17.0, "g": np.arange(n) + 16.0, "r": np.arange(n) + 16.2})
    m = CandidateTableModel()
    m.set_catalog(t)
    return m


def _shown(m, col):
    return [m.data(m.index(r, col)) for r in range(m.rowCount())]


def test_columns_and_colours_from_magnitudes():
    m = _model(3)
    assert m.rowCount() == 3 and m.columnCount() == 10
    assert _shown(m, COL_ID) == ["s0", "s1", "s2"]
    assert _shown(m, COL_G) == ["16.00", "17.00", "18.00"]
    assert _shown(m, COL_UG) == ["1.00", "1.00", "1.00"]
    assert _shown(m, COL_P) == ["", "", ""]


def test_sort_by_score_keeps_unscored_last_and_maps_rows():
    m = _model()
    m.set_scores(np.array([0, 1, 2, 3]), np.array([0.9, 0.1, 0.5, 0.7]))
    m.sort(COL_P, Qt.SortOrder.DescendingOrder)
    assert _shown(m, COL_ID) == ["s0", "s3", "s2", "s1", "s4", "s5"]
    m.sort(COL_P, Qt.SortOrder.AscendingOrder)
    assert _shown(m, COL_ID)[:4] == ["s1", "s2", "s3", "s0"]
    assert m.source_row(0) == 1 and m.view_row(1) == 0 and m.view_row(0) == 3


def test_filters_by_score_state_and_text():
    m = _model()
    m.set_scores(np.arange(6), np.array([0.9, 0.1, 0.5, 0.7, 0.3, 0.6]))
    m.set_filter(score_range=(0.5, 0.9))
    assert _shown(m, COL_ID) == ["s0", "s2", "s3", "s5"]
    m.set_human(2, VerdictKind.BLUE_STRAGGLER, "broad lines")
    m.set_human(0, VerdictKind.BHB, "")
    m.set_human(5, VerdictKind.UNSURE, "")
    m.set_filter(state="vetted")
    assert _shown(m, COL_ID) == ["s0", "s2", "s5"]
    m.set_filter(state="disagrees")  # s2: P = 0.5 calls BHB, the verdict is a non-BHB kind
    assert _shown(m, COL_ID) == ["s2"]
    assert _shown(m, COL_VERDICT) == ["blue straggler ≠"]
    m.set_scores(np.array([2]), np.array([0.2]))
    m.set_filter(state="disagrees")
    assert _shown(m, COL_ID) == []
    m.set_filter(state="unvetted", text="S")
    assert _shown(m, COL_ID) == ["s1", "s3", "s4"]
    m.set_filter(text="broad")
    assert _shown(m, COL_ID) == ["s2"]
    assert m.view_row(0) == -1


def test_next_unvetted_and_most_uncertain():
    m = _model()
    m.set_scores(np.arange(6), np.array([0.9, 0.1, 0.52, 0.7, 0.45, 0.6]))
    m.set_human(1, VerdictKind.BHB, "")
    assert m.next_unvetted(0) == 2
    assert m.next_unvetted(5) == 0  # wraps
    assert m.most_uncertain() == 2
    m.set_human(2, VerdictKind.BHB, "")
    assert m.most_uncertain() == 4


def test_hundred_thousand_rows_sort_and_filter_in_bulk():
    n = 100_000
    rng = np.random.default_rng(1)
    t = Table({"id": np.arange(n).astype(str), "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-90, 90, n),
               "g": rng.uniform(14, 20, n)})
    m = CandidateTableModel()
    m.set_catalog(t)
    p = rng.uniform(0, 1, n)
    m.set_scores(np.arange(n), p)
    m.sort(COL_P, Qt.SortOrder.DescendingOrder)
    assert m.source_row(0) == int(np.argmax(p))
    m.set_filter(score_range=(0.25, 0.75), text="99")
    shown = m.visible_rows()
    assert np.all((p[shown] >= 0.25) & (p[shown] <= 0.75))
    assert np.all(np.diff(p[shown]) <= 0)
    assert len(shown) == sum(1 for i in range(n) if "99" in str(i) and 0.25 <= p[i] <= 0.75)
