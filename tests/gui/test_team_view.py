"""The window's team features: a merged session's conflict review, the blind audit's hidden scores,
SAMP with an in-process hub, and another window on the same session."""

from __future__ import annotations

import queue
import warnings

import numpy as np
import pytest
from astropy.table import Table
from PySide6.QtCore import Qt

from bhb_viewer.core.exports.export import export_catalog, read_provenance
from bhb_viewer.core.sessions.merge import merge_sessions
from bhb_viewer.core.sessions.verdicts import CatalogRef, Session, VerdictKind
from bhb_viewer.gui.app import save_screenshot
from bhb_viewer.gui.main_window import MainWindow
from bhb_viewer.gui.widgets.candidate_table import COL_P

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from astropy.samp import SAMPHubServer, SAMPIntegratedClient

V = VerdictKind
IDS = [f"star{i:03d}" for i in range(12)]
REVIEWS = {
    "alice": {"star000": V.BHB, "star001": V.BHB, "star002": V.MS_A, "star003": V.BAD_DATA, "star005": V.UNSURE},
    "bob": {"star000": V.BHB, "star001": V.BLUE_STRAGGLER, "star002": V.MS_A, "star003": V.BHB, "star005": V.BHB},
    "carol": {"star000": V.BHB, "star001": V.BHB, "star002": V.BLUE_STRAGGLER, "star003": V.BAD_DATA,
              "star005": V.BHB},
}
# Fleiss, 3 raters on 5 candidates: P_i = 1, 1/3, 1/3, 1/3, 1/3 -> P_bar = 7/15;
# totals of 15: B 8, A 2, X 2, S 2, U 1 -> P_e = (64 + 4 + 4 + 4 + 1) / 225 = 77/225;
# kappa = (105/225 - 77/225) / (148/225) = 28/148 = 0.189
FLEISS = 28 / 148
SHOT = "/tmp/bhb_conflict_review.png"


@pytest.fixture
def reviewer() -> str:
    return "lead"


def open_and_wait(qtbot, win, path):
    with qtbot.waitSignal(win.sigSettled, timeout=20000):
        win.review.open_path(path)
    win.table.setFocus()


def merged_session(dataset, tmp_path):
    ref = CatalogRef.from_file(dataset / "catalog.ecsv", len(IDS))
    paths = []
    for name, verdicts in REVIEWS.items():
        with Session.create(tmp_path / f"{name}.sqlite", ref, name) as s:
            for cid, v in verdicts.items():
                s.set_verdict(cid, v)
        paths.append(tmp_path / f"{name}.sqlite")
    merge_sessions(paths, tmp_path / "team.sqlite", "lead")
    return tmp_path / "team.sqlite"


def test_conflict_review_walks_resolves_and_exports(qtbot, window, tiny_dataset, tmp_path):
    open_and_wait(qtbot, window, merged_session(tiny_dataset, tmp_path))
    view = window.team
    assert view.team.merged and view.team.report.kappa == pytest.approx(FLEISS)
    assert view.status_label.text() == "alice, bob, carol · Fleiss κ 0.19 on 5 · 4 of 4 conflicts open"
    qtbot.keyClick(window.table, Qt.Key.Key_C)  # next conflict
    assert window.verdict_panel.id_label.text() == "star001"
    assert view.panel.isVisible() and view.panel.reviewer_texts() == [
        ("alice", "BHB"), ("bob", "blue straggler"), ("carol", "BHB")]
    assert view.panel.conflict_label.text() == "conflict: BHB against a non-BHB class"
    assert view.panel.resolution_label.text() == "not resolved yet"
    window.resize(1280, 800)
    assert save_screenshot(window, SHOT)  # looked at by hand: see the issue note

    window.review.mode.auto_advance = False
    qtbot.keyClick(window.table, Qt.Key.Key_B)  # the lead resolves star001 as BHB
    assert window.review.session.state("star001").reviewer == "lead"
    assert view.panel.resolution_label.text() == "resolved: BHB — lead"
    assert "3 of 4 conflicts open" in view.status_label.text()
    qtbot.keyClick(window.table, Qt.Key.Key_C)
    assert window.verdict_panel.id_label.text() == "star002"  # main-sequence A against blue straggler
    assert view.panel.conflict_label.text() == "conflict: two different non-BHB classes"
    for _ in range(3):
        qtbot.keyClick(window.table, Qt.Key.Key_C)
    assert window.verdict_panel.id_label.text() == "star002"  # star003, star005, then around again
    qtbot.keyClick(window.table, Qt.Key.Key_J)
    assert view.panel.conflict_label.text() == "conflict: bad data against another verdict"

    out = export_catalog(tmp_path / "team.ecsv", Table.read(tiny_dataset / "catalog.ecsv"), window.review.session,
                         selection="all")
    t = Table.read(out)
    assert [str(x) for x in t["verdict_bob"][:3]] == ["bhb", "blue_straggler", "ms_a"]
    assert str(t["verdict"][1]) == "bhb" and str(t["reviewer"][1]) == "lead" and str(t["conflict"][1]) == "bhb"
    assert str(t["reviewer"][0]) == "alice+bob+carol"
    assert read_provenance(out)["KAPPA"] == pytest.approx(FLEISS) and read_provenance(out)["NUNRES"] == 3


def test_audit_mode_hides_scores_and_walks_the_sample(qtbot, window, tiny_dataset, tmp_path):
    open_and_wait(qtbot, window, tiny_dataset)
    window.review.rows.set_scores(np.arange(12), np.linspace(0.05, 0.95, 12))
    window.review.rows.set_modality_scores(np.arange(12), np.linspace(0.1, 0.9, 12), np.full(12, 0.5),
                                           np.full(12, "fusion"))
    window.review.browser.set_cut(0.5)
    window.review.mode.auto_advance = False
    window.review.browser.show_row(7)
    assert not window.verdict_panel.heads_label.isHidden()  # the heads' scores, until the audit hides them
    view = window.team
    view.start_audit(half_width=0.2, seed=2)
    plan = view.team.plan
    assert sorted(plan.ids) == IDS[6:]
    assert window.verdict_panel.id_label.text() == plan.ids[0]
    assert window.table.isColumnHidden(COL_P) and window.verdict_panel.score_label.text() == "P(BHB) hidden"
    assert window.verdict_panel.heads_label.isHidden()
    assert not window.verdict_panel.accept_button.isEnabled() and not window.filter_bar.min.isEnabled()
    assert view.panel.audit_label.text() == "blind audit: 6 of 6 left · scores hidden"
    qtbot.keyClick(window.table, Qt.Key.Key_Return)  # Enter would record the model's call: it is off
    assert window.review.session.state(plan.ids[0]) is None
    for i in range(6):
        qtbot.keyClick(window.table, Qt.Key.Key_B if i < 5 else Qt.Key.Key_N)
        qtbot.keyClick(window.table, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)  # next in the audit
    assert view.status_label.text().startswith("audit 6/6, purity 0.83 [0.44, 0.97]")
    view.hide_action.setChecked(False)  # the audit is done: scores back
    assert not window.table.isColumnHidden(COL_P) and window.verdict_panel.accept_button.isEnabled()
    out = export_catalog(tmp_path / "audit.fits", Table.read(tiny_dataset / "catalog.ecsv"), window.review.session,
                         scores=window.review.scoring.model.scores(), selection="model-accepted", cut=0.5)
    prov = read_provenance(out)
    assert prov["AUDPUR"] == pytest.approx(5 / 6) and (prov["AUDLO"], prov["AUDHI"]) == pytest.approx(
        (0.4365, 0.9699), abs=1e-4)


def test_an_audit_with_auto_advance_stays_in_its_sample_and_keeps_its_banner(qtbot, window, tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    window.review.rows.set_scores(np.arange(12), np.linspace(0.05, 0.95, 12))
    window.review.browser.set_cut(0.5)
    view = window.team
    view.start_audit(half_width=0.2, seed=2)
    plan = view.team.plan
    assert window.review.mode.auto_advance and window.verdict_panel.id_label.text() == plan.ids[0]
    for i in range(3):  # auto-advance goes to the sample's next member, never to the next row
        qtbot.keyClick(window.table, Qt.Key.Key_B)
        assert window.verdict_panel.id_label.text() == plan.ids[i + 1]
        assert view.panel.audit_label.isVisibleTo(view.panel)
    assert view.panel.audit_label.text() == "blind audit: 3 of 6 left · scores hidden"
    window.review.browser.show_row(0)  # a star outside the sample: the banner stays and says so
    assert view.panel.audit_label.text().endswith("this star is not in the sample")
    assert view.status_label.text().startswith("audit 3/6") and "scores hidden" in view.status_label.text()


def test_a_second_window_is_warned_and_its_verdicts_appear(qtbot, window, tiny_dataset, errors):
    open_and_wait(qtbot, window, tiny_dataset)
    with Session.open(window.review.session.path, reviewer="bob") as other:
        win2 = MainWindow(window.review.data_dir, reviewer="bob2")
        qtbot.addWidget(win2)
        open_and_wait(qtbot, win2, window.review.session.path)
        assert errors[-1][0] == "This session is open in another window" and "lead" in errors[-1][1]
        other.set_verdict("star007", V.OTHER)
        qtbot.waitUntil(lambda: window.table_model.column("verdict")[7] == "other", timeout=5000)  # polled in
        assert "vetted 1/12" in window.status.counts_label.text()
        win2.close()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the hub's lock file, where the window's link looks
    monkeypatch.delenv("SAMP_HUB", raising=False)
    server = SAMPHubServer(web_profile=False, addr="127.0.0.1")
    server.start(wait=False)
    yield server
    server.stop()


def test_samp_menu_round_trip(qtbot, window, tiny_dataset, hub):
    got = queue.Queue()
    topcat = SAMPIntegratedClient(name="topcat", addr="127.0.0.1")
    topcat.connect(hub=hub)
    for mtype in ("table.load.votable", "table.highlight.row", "image.load.fits"):
        topcat.bind_receive_notification(mtype, lambda key, sender, mtype, params, extra: got.put((mtype, params)))
    try:
        open_and_wait(qtbot, window, tiny_dataset)
        bridge = window.team.samp
        assert bridge.connect_hub() and window.team.samp.label.text() == "SAMP connected"
        bridge.send_table()  # a background job: the window stays live while the VOTable is written
        qtbot.waitUntil(lambda: got.qsize() >= 2, timeout=10000)
        # the hub delivers each notification on its own thread, so the two may arrive in either order
        first_two = dict([got.get(), got.get()])
        assert set(first_two) == {"table.load.votable", "table.highlight.row"}
        assert first_two["table.highlight.row"] == {"table-id": bridge.link.table_id, "url": bridge.link.table_url,
                                                    "row": "0"}
        qtbot.keyClick(window.table, Qt.Key.Key_J)
        assert got.get(timeout=10)[1]["row"] == "1"  # the window's row follows to TOPCAT
        me = bridge.link._client.get_public_id()
        topcat.notify(me, {"samp.mtype": "table.highlight.row",
                           "samp.params": {"table-id": bridge.link.table_id, "row": "9"}})
        qtbot.waitUntil(lambda: window.verdict_panel.id_label.text() == "star009", timeout=5000)  # and back
        assert got.empty()  # a row that came from TOPCAT is not echoed to it
        ra, dec = (float(window.review.rows.column(c)[4]) for c in ("ra", "dec"))
        topcat.notify(me, {"samp.mtype": "coord.pointAt.sky", "samp.params": {"ra": str(ra), "dec": str(dec + 1e-4)}})
        qtbot.waitUntil(lambda: window.verdict_panel.id_label.text() == "star004", timeout=5000)
        assert "0.4″ away" in window.status.saved_label.text()
        assert got.empty()  # nor is a row chosen by another program's pointAt
        bridge.send_cutout()
        mtype, params = got.get(timeout=10)
        assert mtype == "image.load.fits" and params["name"] == "star004 r"
        assert bridge.hub_timer.isActive()  # the hub is watched while connected
        bridge.disconnect_hub()
        assert window.team.samp.label.text() == "SAMP disconnected" and not bridge.hub_timer.isActive()
        assert bridge.connect_hub() and window.team.samp.label.text() == "SAMP connected"
        hub.stop()  # the hub goes away: the next check says so, and Connect reconnects to a new one
        bridge.link.check()
        assert window.team.samp.label.text() == "SAMP disconnected"
        hub.start(wait=False)
        assert bridge.connect_hub() and window.team.samp.label.text() == "SAMP connected"
        bridge.disconnect_hub()
    finally:
        topcat.disconnect()


def test_audit_mode_hides_the_overlays_of_the_models_view_and_one_shown_again_is_not_blind(qtbot, window, tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    window.review.rows.set_scores(np.arange(12), np.linspace(0.05, 0.95, 12))
    window.review.browser.set_cut(0.5)
    window.review.mode.auto_advance = False
    plot, cutouts, view = window.spectrum_plot, window.cutout_panel, window.team
    plot.show_saliency.setChecked(False)  # the person's own choice before the audit
    cutouts.set_band_importance(np.array([0.1, -0.2, 0.3, 0.0, 0.05]))
    view.start_audit(half_width=0.2, seed=2)
    plan = view.team.plan
    assert not plot.show_segments.isChecked() and not plot.show_saliency.isChecked()
    assert not cutouts.show_overlay.isChecked() and not cutouts.bars.texts[1]  # band bars emptied
    assert window.review.mode.model_overlays == () and window.review.mode.blind
    qtbot.keyClick(window.table, Qt.Key.Key_B)
    cutouts.show_overlay.setChecked(True)  # the person looks at the cutout overlay after all
    assert window.review.mode.model_overlays == ("Overlay",) and not window.review.mode.blind
    assert view.panel.audit_label.text() == ("blind audit: 5 of 6 left · scores hidden · Overlay shown: "
                                             "verdicts not blind")
    window.review.browser.show_row(IDS.index(plan.ids[1]))
    qtbot.keyClick(window.table, Qt.Key.Key_B)
    assert view.team.audit_result().n_judged == 1  # the second verdict, with attention shown, does not count
    assert [e["blind"] for e in window.review.session.events() if e["action"] == "verdict"] == [1, 0]
    view.hide_action.setChecked(False)  # the audit over: the overlays come back as they were
    assert plot.show_segments.isChecked() and cutouts.show_overlay.isChecked() and not plot.show_saliency.isChecked()


def test_hidden_scores_stay_hidden_whatever_repaints_and_the_team_panel_sits_above_the_verdicts(qtbot, window,
                                                                                                tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    layout = window.verdict_panel.parentWidget().layout()
    assert window.team.panel is window.team_panel
    assert layout.indexOf(window.team_panel) == layout.indexOf(window.verdict_panel) - 1
    rows = window.review.rows
    rows.set_scores(np.arange(12), np.linspace(0.05, 0.95, 12))
    window.review.browser.set_cut(0.5)
    window.review.mode.auto_advance = False
    window.team.start_audit(half_width=0.2, seed=2)
    panel, current = window.verdict_panel, window.review.nav.current
    # new scores arrive and every view repaints the candidate on show: the score stays hidden
    rows.set_scores(np.arange(12), np.linspace(0.9, 0.1, 12))
    window.review.events.candidate_changed.emit(current)
    window.review.events.scores_changed.emit()
    qtbot.keyClick(window.table, Qt.Key.Key_J)
    qtbot.keyClick(window.table, Qt.Key.Key_K)
    assert panel.score_label.text() == "P(BHB) hidden" and not panel.accept_button.isEnabled()
    assert panel.disagree_label.isHidden() and panel.heads_label.isHidden()
    assert not panel.nav_buttons["uncertain"].isEnabled() and window.table.isColumnHidden(COL_P)
    assert not window.filter_bar.min.isEnabled() and not window.filter_bar.max.isEnabled()
    assert [a.isEnabled() for a in window.menus.score_actions] == [False, False, False]  # Enter, M, Shift+M
    qtbot.keyClick(window.table, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)  # least uncertain: off
    assert window.review.nav.current == current
    window.team.hide_action.setChecked(False)
    assert panel.score_label.text() == f"P(BHB) {rows.column('p')[current]:.3f}" and panel.accept_button.isEnabled()
    assert all(a.isEnabled() for a in window.menus.score_actions) and window.filter_bar.min.isEnabled()
