"""Known stars in the window (issue 24): a candidate at a Xue 2011 BHB position is named in the
table's list, the verdict panel and the export, and "not yet catalogued" hides it."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from bhb_viewer.core.candidates import read_candidates
from bhb_viewer.core.export import export_table
from bhb_viewer.core.resources import resource_path


def test_a_xue_bhb_star_is_known_in_the_panel_the_filter_and_the_export(qtbot, window, tmp_path):
    xue = read_candidates(resource_path("catalogs/xue2011_bhb.dat"))
    path = tmp_path / "list.csv"
    Table({"id": ["xue", "new"], "ra": [float(xue["ra"][7]), 10.0], "dec": [float(xue["dec"][7]), -80.0],
           "g": [18.0, 18.5]}).write(path)
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.open_path(path)
    rows = window.review.rows
    known = list(rows.column("known_as"))
    assert "xue2011:BHB" in known[0].split(";") and known[1] == ""
    assert window.review.jump_to_id("xue")
    qtbot.waitUntil(lambda: "already known: a BHB star of Xue et al. (2011)" in window.verdict_panel.fit_label.text(),
                    timeout=10000)
    window.filter_bar.not_catalogued.setChecked(True)
    qtbot.waitUntil(lambda: rows.filter.not_catalogued, timeout=5000)
    model = window.table.model()
    assert [rows.source_row(r) for r in range(model.rowCount())] == [1]
    inputs = window.review.export_inputs()
    out = export_table(inputs["catalog"], inputs["session"], selection="all")
    assert "xue2011:BHB" in str(out["known_as"][0]) and np.isfinite(out["known_sep_arcsec"][0])
