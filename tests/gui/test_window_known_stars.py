"""Known stars in the window (issue 24): a candidate at a Xue 2011 BHB position is named in the
table's list, the verdict panel and the export, and "not yet catalogued" hides it."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from bhb_viewer.core.exports.export import export_table
from bhb_viewer.core.readers.candidates import read_candidates
from bhb_viewer.core.resources import resource_path


def test_a_xue_bhb_star_is_known_in_the_panel_the_filter_and_the_export(qtbot, window, tmp_path):
    xue = read_candidates(resource_path("catalogs/xue2011_bhb.dat"))
    path = tmp_path / "list.csv"
    Table({"id": ["xue", "new"], "ra": [float(xue["ra"][7]), 10.0], "dec": [float(xue["dec"][7]), -80.0],
           "g": [18.0, 18.5]}).write(path)
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.review.open_path(path)
    rows = window.review.rows
    known = list(rows.column("known_as"))
    assert "xue2011:BHB" in known[0].split(";") and known[1] == ""
    assert window.review.browser.jump_to_id("xue")
    qtbot.waitUntil(lambda: "already known: a BHB star of Xue et al. (2011)" in window.verdict_panel.fit_label.text(),
                    timeout=10000)
    window.filter_bar.not_catalogued.setChecked(True)
    qtbot.waitUntil(lambda: rows.filter.not_catalogued, timeout=5000)
    model = window.table.model()
    assert [rows.source_row(r) for r in range(model.rowCount())] == [1]
    inputs = window.review.export_inputs()
    out = export_table(inputs["catalog"], inputs["session"], selection="all")
    assert "xue2011:BHB" in str(out["known_as"][0]) and np.isfinite(out["known_sep_arcsec"][0])


def test_the_users_catalogue_of_known_stars_is_a_setting_that_names_its_stars(qtbot, window, tmp_path, errors,
                                                                               monkeypatch):
    from bhb_viewer.gui import main_window as mw
    from bhb_viewer.gui.main_window import MainWindow

    xue = read_candidates(resource_path("catalogs/xue2011_bhb.dat"))
    path = tmp_path / "list.csv"
    Table({"id": ["xue", "mine", "new"], "ra": [float(xue["ra"][7]), 10.0, 20.0],
           "dec": [float(xue["dec"][7]), -80.0, -70.0]}).write(path)
    bad = tmp_path / "no_positions.csv"
    Table({"name": ["a"], "g": [18.0]}).write(bad)
    mine = tmp_path / "group_list.ecsv"
    Table({"ra": [10.0, float(xue["ra"][7])], "dec": [-80.0 + 1.0 / 3600, float(xue["dec"][7])],
           "known_as": ["group:BHB", "group:BHB"]}).write(mine)
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.review.open_path(path)
    rows = window.review.rows
    assert list(rows.column("known_as"))[1:] == ["", ""]

    # a file without positions: said in words, nothing kept
    monkeypatch.setattr(mw, "ask_known_catalogue", lambda parent, current: bad)
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.choose_known_catalogue()
    assert errors and errors[-1][0] == "Cannot use that catalogue of known stars"
    assert "no_positions.csv" in errors[-1][1] and "missing column 'ra'/'dec'" in errors[-1][1]
    assert window.review.known.setting.get() is None

    # the user's catalogue: the open list re-matched in place, the panel says it, the export carries it
    monkeypatch.setattr(mw, "ask_known_catalogue", lambda parent, current: mine)
    assert window.review.browser.jump_to_id("mine")
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.choose_known_catalogue()
    known = list(rows.column("known_as"))
    assert known[1] == "group:BHB" and known[2] == ""
    assert known[0].split(";")[0] == "xue2011:BHB" and "group:BHB" in known[0].split(";")  # added to, not replaced
    assert 0.5 < rows.column("known_sep")[1] < 1.5
    qtbot.waitUntil(lambda: "already known: in group" in window.verdict_panel.fit_label.text(), timeout=10000)
    inputs = window.review.export_inputs()
    out = export_table(inputs["catalog"], inputs["session"], selection="all")
    assert str(out["known_as"][1]) == "group:BHB"

    # kept in the data folder: the next window matches a list against it as it opens
    window.close()
    again = MainWindow(window.review.data_dir, reviewer="tester")
    qtbot.addWidget(again)
    assert again.review.known.setting.get() == mine.resolve()
    with qtbot.waitSignal(again.sigSettled, timeout=30000):
        again.review.open_path(path)
    assert list(again.review.rows.column("known_as"))[1] == "group:BHB"
    # gone from disk: the list opens with the shipped catalogues and the window says why
    mine.unlink()
    with qtbot.waitSignal(again.sigSettled, timeout=30000):
        again.review.open_path(path)
    assert errors[-1][0] == "Your catalogue of known stars was left out" and "group_list.ecsv" in errors[-1][1]
    assert list(again.review.rows.column("known_as"))[1] == ""
    with qtbot.waitSignal(again.sigSettled, timeout=30000):
        again.review.known.use(None)
    assert again.review.known.setting.get() is None
    again.close()
