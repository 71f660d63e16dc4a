"""The window's SDSS batch fetch (whole list, selection, cancel, resume, no network) and the
unreliable / resolution marks in the table, the verdict panel and the export. No network: the
SDSS request layer is a fake shaped like the real answers."""

from __future__ import annotations

import threading
import time
import urllib.error

import numpy as np
import pytest
from astropy.table import Table
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from sdss_files import SDSS_LOGLAM0, hips_answer, served_spectrum, smooth_flux, write_spec

from bhb_viewer.core.exports.export import export_catalog
from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.sessions.verdicts import VerdictKind
from bhb_viewer.services.sdss import SDSSService

LOGLAM = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)


class Server:
    """``SDSSService._fetch`` stand-in, optionally slow, optionally without a network."""

    def __init__(self, tmp_path, delay: float = 0.0, offline_network: bool = False):
        self.tmp, self.delay, self.offline_network = tmp_path / "served", delay, offline_network
        self.calls: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, kind, **p):
        if self.offline_network:
            raise urllib.error.URLError(OSError(101, "Network is unreachable"))
        time.sleep(self.delay)
        with self.lock:
            self.calls.append((kind, p))
        if kind == "spectrum":
            return [served_spectrum(self.tmp, p["plate"], p["mjd"], p["fiber"], LOGLAM)]
        return [hips_answer(p["ra"], p["dec"], p["size"] + 8) for _ in BANDS]


def use_server(window, tmp_path, server, probe: str = ""):
    def make(offline: bool) -> SDSSService:
        svc = SDSSService(tmp_path / "cache", offline=offline, sleep=lambda s: None, retries=0,
                          offline_hint="or choose SDSS → Offline to work from the cache")
        svc.network.probe = lambda: probe
        svc._fetch = server
        return svc

    window.review.fetch.service = make


@pytest.fixture
def catalog_file(tmp_path):
    path = tmp_path / "list.csv"
    n = 6
    Table({"id": [f"c{i}" for i in range(n)], "ra": 10.0 + np.arange(n), "dec": np.ones(n),
           "plate": 300 + np.arange(n), "mjd": [51600] * n, "fiber": 1 + np.arange(n)}).write(path)
    return path


def open_and_wait(qtbot, win, path):
    with qtbot.waitSignal(win.sigSettled, timeout=20000):
        win.review.open_path(path)


def menu_action(win, text):
    return next(a for a in win.findChildren(QAction) if a.text().replace("&", "") == text)


def test_fetch_the_selection_then_the_whole_list(qtbot, window, catalog_file, tmp_path, errors):
    open_and_wait(qtbot, window, catalog_file)
    server = Server(tmp_path)
    use_server(window, tmp_path, server)
    table = window.table
    table.selectionModel().clearSelection()
    for view_row in (1, 3):
        index = window.table_model.index(view_row, 0)
        table.selectionModel().select(index, table.selectionModel().SelectionFlag.Select |
                                      table.selectionModel().SelectionFlag.Rows)
    assert table.selected_source_rows().tolist() == [1, 3]
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        menu_action(window, "Fetch spectra and cutouts for the selection").trigger()
    source = window.review.source
    assert [source.spectrum(r) is not None for r in range(6)] == [False, True, False, True, False, False]
    assert source.cube(3).shape == (5, 64, 64)
    asked = len(server.calls)
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        menu_action(window, "Fetch spectra and cutouts for the whole list").trigger()
    assert all(source.spectrum(r) is not None and source.cube(r) is not None for r in range(6))
    assert {p["plate"] for kind, p in server.calls[asked:] if kind == "spectrum"} == {300, 302, 304, 305}
    assert "4 spectra and 4 cutouts for 4 of 4" in window.status.saved_label.text()
    assert errors == []
    # the candidate on show got its fetched spectrum and quality
    assert window.verdict_panel.quality_label.isHidden()


def test_a_fetch_cancelled_from_the_status_bar_resumes_from_the_cache(qtbot, window, catalog_file, tmp_path, errors):
    open_and_wait(qtbot, window, catalog_file)
    server = Server(tmp_path, delay=0.15)
    use_server(window, tmp_path, server)
    window.review.fetch.workers = 1
    arrived = []
    window.review.events.data_changed.connect(arrived.append)
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.fetch_sdss_list()
        assert window.status.progress.isVisibleTo(window) and window.status.cancel_button.isVisibleTo(window)
        qtbot.waitUntil(lambda: len(arrived) >= 1, timeout=20000)
        qtbot.mouseClick(window.status.cancel_button, Qt.MouseButton.LeftButton)
    got = [r for r in range(6) if window.review.source.spectrum(r) is not None]
    assert 1 <= len(got) < 6 and "cancelled" in window.status.saved_label.text()
    before = {p["plate"] for kind, p in server.calls if kind == "spectrum"}
    server.calls.clear()
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.fetch_sdss_list()
    assert all(window.review.source.spectrum(r) is not None for r in range(6))
    again = {p["plate"] for kind, p in server.calls if kind == "spectrum"}
    assert not again & {300 + r for r in got}  # attached rows are skipped
    assert again | before >= {300 + r for r in range(6)}
    assert errors == []


def test_no_network_is_a_dialog_naming_sdss_offline_and_the_window_goes_on(qtbot, window, catalog_file, tmp_path,
                                                                           errors, capfd):
    open_and_wait(qtbot, window, catalog_file)
    use_server(window, tmp_path, Server(tmp_path, offline_network=True),
               probe="cannot reach SDSS (skyserver.sdss.org: [Errno -3] Temporary failure in name resolution)")
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.fetch_sdss_list()
    title, text = errors[-1]
    assert title == "The SDSS fetch stopped" and "SDSS → Offline" in text and "--offline" not in text
    with qtbot.waitSignal(window.sigSettled, timeout=30000):
        window.fetch_sdss()
    assert "SDSS → Offline" in errors[-1][1]
    assert "Traceback" not in capfd.readouterr().err
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_B)
    assert window.review.session.state("c0").verdict is VerdictKind.BHB


def test_a_partial_spectrum_is_shown_marked_in_table_panel_and_export(qtbot, window, tmp_path):
    loglam = 3.6021 + 1e-4 * np.arange(2400)  # 4000–7000 Å of the 4000–9000 Å window
    path = write_spec(tmp_path / "spec-0500-52000-0010.fits", loglam, smooth_flux(loglam), np.ones(len(loglam)),
                      plate=500, mjd=52000, fiber=10)
    open_and_wait(qtbot, window, path)
    assert window.table_model.rowCount() == 1
    p_cell = window.table_model.index(0, 6)
    assert window.table_model.data(p_cell, Qt.ItemDataRole.BackgroundRole) is not None
    assert "68%" in window.table_model.data(p_cell, Qt.ItemDataRole.ToolTipRole)
    label = window.verdict_panel.quality_label
    assert label.isVisibleTo(window) and "score is unreliable" in label.text()
    inputs = {k: v for k, v in window.review.export_inputs().items() if k != "checkpoint"}
    exported = Table.read(export_catalog(tmp_path / "out.ecsv", **inputs, selection="all"))
    assert exported["p_bhb_unreliable"].tolist() == [True]
    assert exported["valid_fraction"][0] == pytest.approx(0.681, abs=1e-3)


def test_a_resolution_far_from_sdss_is_flagged_in_the_panel(qtbot, window, tmp_path):
    from tinysky import make_dataset

    from bhb_viewer.core.dataset import open_dataset, write_dataset

    ds = open_dataset(make_dataset(tmp_path / "tiny", n=3))
    catalog = ds.catalog.copy()
    catalog["resolution"] = [2000.0, 700.0, np.nan]
    path = write_dataset(tmp_path / "res", catalog, np.asarray(ds.spectra), np.asarray(ds.ivar),
                         np.asarray(ds.cutouts), {"source": "test"})
    open_and_wait(qtbot, window, path)
    label = window.verdict_panel.quality_label
    assert label.isHidden()
    window.review.browser.navigate("next")
    assert label.isVisibleTo(window) and "R ≈ 700" in label.text() and "unreliable" not in label.text()


def test_a_verdict_write_that_fails_keeps_the_star_and_says_so(qtbot, window, catalog_file, errors, monkeypatch):
    open_and_wait(qtbot, window, catalog_file)

    def read_only(*args):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(window.review.session, "set_verdict", read_only)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_B)
    assert window.verdict_panel.id_label.text() == "c0"
    assert errors[-1][0] == "The verdict was NOT saved" and "stays on show" in errors[-1][1]
    assert window.table_model.column("verdict")[0] == ""


def test_the_panel_shows_every_modalitys_score_and_the_head_of_a_one_modality_star(qtbot):
    from bhb_viewer.gui.widgets.verdict_panel import VerdictPanel

    panel = VerdictPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_modality_scores(0.912, 0.874, 0.655, "fusion")
    assert panel.heads_label.text() == "P(BHB): all inputs 0.912 · spectrum 0.874 · image 0.655"
    panel.set_modality_scores(0.874, 0.874, float("nan"), "spectrum")
    text = panel.heads_label.text()
    assert text.startswith("P(BHB): all inputs — · spectrum 0.874 · image —")
    assert "spectrum head alone (no cutouts)" in text
    panel.set_modality_scores(0.931, 0.874, float("nan"), "spectrum+photometry")  # a model that reads colours
    text = panel.heads_label.text()
    assert text.startswith("P(BHB): spectrum+colours 0.931 · spectrum 0.874 · image —")
    assert "colours (catalogue, or synthesised from the spectrum; no cutouts)" in text
    panel.set_modality_scores(0.5, float("nan"), float("nan"), "")
    assert panel.heads_label.isHidden()


def test_a_spectrum_file_is_scored_from_its_spectrum_and_synthesised_colours(qtbot, window, tmp_path):
    """The shipped model reads colours: a lone spectrum file gives its g, r, i, so it scores without cutouts."""
    from bhb_viewer.review.candidate_source import DEMO_MODEL, find_resource

    loglam = 3.6021 + 1e-4 * np.arange(3522)
    path = write_spec(tmp_path / "spec-0500-52000-0010.fits", loglam, smooth_flux(loglam), np.ones(len(loglam)),
                      plate=500, mjd=52000, fiber=10)
    with qtbot.waitSignal(window.sigSettled, timeout=60000):
        window.review.open_path(path, find_resource(DEMO_MODEL))
    qtbot.waitUntil(lambda: window.verdict_panel.heads_label.isVisibleTo(window), timeout=30000)
    text = window.verdict_panel.heads_label.text()
    assert "spectrum+colours" in text and "image —" in text and "synthesised from the spectrum" in text
    p_cell = window.table_model.index(0, 6)
    assert window.table_model.data(p_cell) != ""
    assert "spectrum and colours" in window.table_model.data(p_cell, Qt.ItemDataRole.ToolTipRole)
