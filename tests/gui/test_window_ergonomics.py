"""Finding one's way and a window that stays put: keys overlay and Help, go to id, the reverse moves,
the active model on open, no self-growing window, readable table columns, remembered splitters,
undo after reopening, full-range spectra and the explanation's maps flag, all through the window."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sdss_files import smooth_flux, write_spec

from bhb_viewer.core.grid import DLOGLAM
from bhb_viewer.core.sessions.verdicts import VerdictKind
from bhb_viewer.gui.app import build_parser, launch, shipped_model
from bhb_viewer.gui.help import GuideDialog
from bhb_viewer.gui.main_window import MainWindow
from bhb_viewer.gui.widgets.candidate_table import COL_NOTE, COL_VERDICT, COLUMNS, SORT_ARROW_PX


def new_window(qtbot, data_dir, size=(1280, 800)):
    win = MainWindow(data_dir, reviewer="tester")
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    win.activateWindow()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot, tmp_path, errors):
    win = new_window(qtbot, tmp_path / "userdata")
    yield win
    win.close()


def open_and_wait(qtbot, win, path, model=None):
    with qtbot.waitSignal(win.sigSettled, timeout=60000):
        win.review.open_path(path, model)
    win.table.setFocus()


def key(qtbot, win, k, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(win.focusWidget() or win.table, k, modifier)


def current_id(win):
    return win.verdict_panel.id_label.text()


def test_keys_overlay_on_f1_and_question_mark_closes_without_a_verdict(qtbot, window, tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    key(qtbot, window, Qt.Key.Key_F1)
    overlay = window.key_overlay
    assert overlay.isVisible() and overlay.geometry() == window.stack.rect()
    text = overlay.label.text()
    for keys in ("Shift+M", "Shift+Space", "Ctrl+G or /", "Ctrl+Z", "Enter"):
        assert keys in text
    shown = {part for cell in re.findall(r"<tt>(.*?)</tt>", text) for part in html.unescape(cell).split(" or ")}
    defined = {k.toString() for action in window.actions() for k in action.shortcuts()}
    assert {"Ctrl+B", "C", "Ctrl+E", "Ctrl+.", "Ctrl+Shift+F"} <= defined
    assert defined - {"Return", "Shift+?"} <= shown  # every shortcut the window defines (Return shows as Enter)
    key(qtbot, window, Qt.Key.Key_B)  # closes the overlay; records nothing
    assert not overlay.isVisible() and window.review.session.states() == {}
    key(qtbot, window, Qt.Key.Key_Question, Qt.KeyboardModifier.ShiftModifier)
    assert overlay.isVisible()
    qtbot.mouseClick(overlay, Qt.MouseButton.LeftButton)
    assert not overlay.isVisible()


def test_help_menu_has_the_keys_and_a_one_page_guide(qtbot, window):
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    texts = [a.text() for a in help_menu.actions()]
    assert texts == ["&Keys", "&Guide (one page)"]
    help_menu.actions()[1].trigger()
    guide = window.findChild(GuideDialog)
    assert guide is not None and guide.isVisible() and not guide.isModal()
    body = guide.browser.toPlainText()
    assert "your verdict always wins" in body and "Ctrl+G" in body


def test_go_to_id_by_ctrl_g_and_slash(qtbot, window, tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    key(qtbot, window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    bar = window.jump_bar
    assert bar.isVisible() and window.focusWidget() is bar.edit
    qtbot.keyClicks(bar.edit, "star007")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert current_id(window) == "star007" and not bar.isVisible()
    assert window.focusWidget() is window.table
    key(qtbot, window, Qt.Key.Key_Slash)
    assert bar.isVisible()
    qtbot.keyClicks(bar.edit, "no-such-star")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert bar.isVisible() and "no candidate 'no-such-star'" in bar.message.text()
    assert current_id(window) == "star007"
    qtbot.keyClick(bar.edit, Qt.Key.Key_Escape)
    assert not bar.isVisible() and window.review.session.states() == {}  # letters typed there were no verdicts
    window.filter_bar.text.setText("star00")  # a filtered-out id: the filter clears to show it
    window.review.browser.set_filter(window.filter_bar.filter())
    key(qtbot, window, Qt.Key.Key_Slash)
    qtbot.keyClicks(bar.edit, "star011")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert current_id(window) == "star011"


def test_shift_space_and_shift_m_go_the_other_way(qtbot, window, tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    window.table_model.set_scores(np.arange(12), np.linspace(0.0, 1.0, 12))
    window.review.browser.jump_to_id("star005")
    key(qtbot, window, Qt.Key.Key_B)  # star005 vetted, on to star006
    key(qtbot, window, Qt.Key.Key_Space, Qt.KeyboardModifier.ShiftModifier)  # previous unvetted
    assert current_id(window) == "star004"
    key(qtbot, window, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)  # least uncertain: farthest from the cut
    assert current_id(window) == "star000"
    key(qtbot, window, Qt.Key.Key_M)
    assert current_id(window) == "star006"  # 0.545: the closest to 0.5 still unvetted


def test_a_list_opens_with_the_model_used_last(qtbot, tmp_path, tiny_dataset, tiny_checkpoint, errors):
    data_dir = tmp_path / "userdata"
    first = new_window(qtbot, data_dir)
    open_and_wait(qtbot, first, tiny_dataset, tiny_checkpoint)
    assert first.review.scoring.model.info is not None
    first.close()
    second = new_window(qtbot, data_dir)
    assert second.review.models.current.path == tiny_checkpoint.resolve()  # the explicit choice became active
    other = tmp_path / "other"
    from tinysky import make_dataset

    open_and_wait(qtbot, second, make_dataset(other, n=5, seed=3))  # no model named: the last one
    info = second.review.scoring.model.info
    assert info is not None and info.checkpoint == str(tiny_checkpoint)
    assert "no model" not in second.verdict_panel.model_label.text()
    assert np.isfinite(second.table_model.column("p")).all()
    second.close()


def test_first_start_uses_the_shipped_model(qtbot, tmp_path):
    shipped = shipped_model()
    if shipped is None:
        pytest.skip("the shipped model is not installed")
    args = build_parser().parse_args(["--data-dir", str(tmp_path / "fresh")])
    win = launch(args, lambda saved: None)
    qtbot.addWidget(win)
    assert win.review.models.current.path == shipped and win.review.models.current.reason == "the shipped model"
    win.close()


def test_the_window_never_grows_with_long_texts(qtbot, window, tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    long = "a very long message about a file with a long name " * 8
    status = window.status
    for label in (status.work_label, status.saved_label, status.counts_label, status.device_label):
        label.setText(long)
    window.verdict_panel.set_model("batmm-" + "x" * 200, "v" * 60, "cuda:0")
    QApplication.processEvents()
    assert window.width() == 1280
    assert window.minimumSizeHint().width() <= 1280
    assert window.status.saved_label.elided_text().endswith("…") and window.status.saved_label.toolTip() == long


def test_table_headers_read_and_the_note_is_reachable(qtbot, window, tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    table = window.table
    header_metrics = table.horizontalHeader().fontMetrics()
    for col, name in enumerate(COLUMNS[:-1]):
        assert table.columnWidth(col) >= header_metrics.horizontalAdvance(name) + SORT_ARROW_PX - 1, name
    table.scrollTo(window.table_model.index(0, COL_NOTE))
    QApplication.processEvents()
    left = table.horizontalHeader().sectionViewportPosition(COL_NOTE)
    assert 0 <= left < table.viewport().width() and table.columnWidth(COL_NOTE) >= 150


def test_at_1280_by_800_verdicts_and_status_read_whole(qtbot, tmp_path, errors):
    """The columns through the verdict fit the table's pane (the verdict column sat half outside it,
    reading "BHE", "mai", "uns") and the status fields show whole ("scores on …")."""
    import shutil

    from bhb_viewer.review.candidate_source import DEMO_DATASET, find_resource

    demo = tmp_path / "demo"  # demo ids are SDSS-long ("sim-2026-000000"); its session goes beside the copy
    shutil.copytree(find_resource(DEMO_DATASET), demo)
    window = new_window(qtbot, tmp_path / "userdata")
    open_and_wait(qtbot, window, demo)
    for kind in (VerdictKind.MS_A, VerdictKind.BLUE_STRAGGLER):  # rows 0 and 1: the longest labels
        window.review.vetting.record_verdict(kind)
    QApplication.processEvents()
    table = window.table
    verdict_right = table.horizontalHeader().sectionViewportPosition(COL_VERDICT) + table.columnWidth(COL_VERDICT)
    assert verdict_right <= table.viewport().width()
    cells = table.fontMetrics()
    texts = [window.table_model.data(window.table_model.index(r, COL_VERDICT)) for r in range(2)]
    assert texts[0].startswith("main-sequence A") and texts[1].startswith("blue straggler"), texts
    assert all(cells.horizontalAdvance(t) <= table.columnWidth(COL_VERDICT) - 6 for t in texts)  # no elision
    window.status.device_label.setText("batmm (batmm-lite@0322e56497) scores on cpu")
    window.status.saved_label.setText("saved verdict of sim-2026-000001")
    QApplication.processEvents()
    for label in (window.status.saved_label, window.status.counts_label, window.status.device_label):
        assert label.elided_text() == label.text()
    window.close()


def test_splitter_sizes_are_remembered(qtbot, tmp_path, errors):
    data_dir = tmp_path / "userdata"
    first = new_window(qtbot, data_dir)
    page, right, _ = first.splitters
    page.setSizes([700, 580])
    right.setSizes([300, 400])
    page.splitterMoved.emit(700, 1)
    wanted = (page.sizes(), right.sizes())
    first.close()
    second = new_window(qtbot, data_dir)
    page2, right2, _ = second.splitters
    assert page2.sizes() == wanted[0] and right2.sizes() == wanted[1]
    second.close()


def test_undo_after_reopening_the_session_works_through_the_window(qtbot, tmp_path, tiny_dataset, errors):
    data_dir = tmp_path / "userdata"
    first = new_window(qtbot, data_dir)
    open_and_wait(qtbot, first, tiny_dataset)
    key(qtbot, first, Qt.Key.Key_B)  # star000
    key(qtbot, first, Qt.Key.Key_S)  # star001
    key(qtbot, first, Qt.Key.Key_A)  # star002
    key(qtbot, first, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # star002 undone before closing
    session_file = first.review.session.path
    first.close()

    second = new_window(qtbot, data_dir)
    open_and_wait(qtbot, second, session_file)
    panel = second.verdict_panel
    assert panel.undo_button.isEnabled() and panel.redo_button.isEnabled()  # the history came back
    key(qtbot, second, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert second.review.session.state("star001") is None and current_id(second) == "star001"
    assert second.table_model.column("verdict")[1] == ""
    key(qtbot, second, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert second.review.session.state("star001").verdict is VerdictKind.BLUE_STRAGGLER
    panel.redo_button.click()
    assert second.review.session.state("star002").verdict is VerdictKind.MS_A
    assert not panel.redo_button.isEnabled()
    second.close()

    third = new_window(qtbot, data_dir)  # and once more: the undo position survives each reopening
    open_and_wait(qtbot, third, session_file)
    assert third.verdict_panel.undo_button.isEnabled() and not third.verdict_panel.redo_button.isEnabled()
    third.verdict_panel.undo_button.click()
    assert third.review.session.state("star002") is None
    third.close()


def test_a_spectrum_file_shows_its_full_range(qtbot, window, tmp_path):
    ll = 3.5563 + DLOGLAM * np.arange(4650)  # 3,600–10,400 Å, as BOSS
    path = write_spec(tmp_path / "spec-3586-55181-0001.fits", ll, smooth_flux(ll), np.full(ll.size, 4.0),
                      plate=3586, mjd=55181, fiber=1)
    open_and_wait(qtbot, window, path)
    plot = window.spectrum_plot
    assert plot.range_choice.isEnabled()
    plot.range_choice.setCurrentIndex(1)
    x = plot.curves.flux_curve.getOriginalDataset()[0]
    assert x[0] == pytest.approx(3600, abs=1) and x[-1] > 10_300
    shown = {line.name for line, m in zip(plot.line_marks.lines, plot.line_marks.markers, strict=True) if m.isVisible()}
    assert {"Ca II K", "Hε", "H8"} <= shown


def test_explanations_skip_the_maps_while_neither_is_shown(qtbot, window, tiny_dataset, tiny_checkpoint):
    open_and_wait(qtbot, window, tiny_dataset, tiny_checkpoint)
    scoring = window.review.scoring
    assert scoring.want_maps
    window.spectrum_plot.show_saliency.setChecked(False)
    assert scoring.want_maps  # the cutout overlay still needs them
    window.cutout_panel.show_overlay.setChecked(False)
    assert not scoring.want_maps
    scoring.details.clear()
    window.review.browser.jump_to_id("star003")
    qtbot.waitUntil(lambda: 3 in scoring.details.explain, timeout=30000)
    cheap = scoring.details.explain[3]
    assert cheap.saliency is None and cheap.attention_map is None and cheap.segment_weights is not None
    assert cheap.occlusion is None  # the occlusion's 64 scored copies are skipped too
    window.spectrum_plot.show_saliency.setChecked(True)  # back on: the star on show gets its maps
    qtbot.waitUntil(lambda: scoring.details.explain[3].saliency is not None, timeout=30000)
    assert scoring.details.explain[3].occlusion.shape == (8, 8)
    panel = window.cutout_panel
    panel.show_overlay.setChecked(True)  # the default overlay, measured occlusion, is drawn with its scale
    qtbot.waitUntil(lambda: panel.mosaic.show_scale, timeout=30000)
    assert panel.overlay == "occlusion" and "ΔP occluding" in panel.mosaic.scale_text


def test_menu_mnemonics_and_shortcuts_are_unique(window):
    """Alt+letter opens one menu; one key does one thing (Alt+T opened both Tools and Team)."""
    titles = [a.text() for a in window.menuBar().actions()]
    letters = [t[t.index("&") + 1].lower() for t in titles if "&" in t]
    assert "&Tools" in titles and len(letters) == len(titles) and len(set(letters)) == len(letters), titles
    keys = [k.toString() for action in window.actions() for k in action.shortcuts()]
    assert len(set(keys)) == len(keys), sorted(k for k in keys if keys.count(k) > 1)
