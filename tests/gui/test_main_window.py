"""The review window end to end on a tiny data set: keys, verdicts, undo, session reopen, errors, PNG."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from bhb_viewer.core.sessions.verdicts import Session, VerdictKind
from bhb_viewer.gui import main_window as mw
from bhb_viewer.gui.app import save_screenshot
from bhb_viewer.gui.main_window import MainWindow


def open_and_wait(qtbot, win, path):
    with qtbot.waitSignal(win.sigSettled, timeout=20000):
        win.review.open_path(path)
    win.table.setFocus()


def key(qtbot, win, k, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(win.focusWidget() or win.table, k, modifier)


def current_id(win):
    return win.verdict_panel.id_label.text()


def test_open_navigate_and_vet_by_keys_then_reopen(qtbot, window, tiny_dataset, tmp_path):
    open_and_wait(qtbot, window, tiny_dataset)
    assert window.table_model.rowCount() == 12
    assert current_id(window) == "star000"
    key(qtbot, window, Qt.Key.Key_J)
    key(qtbot, window, Qt.Key.Key_J)
    assert current_id(window) == "star002"
    key(qtbot, window, Qt.Key.Key_K)
    assert current_id(window) == "star001"

    key(qtbot, window, Qt.Key.Key_B)  # BHB for star001, then advance
    assert current_id(window) == "star002"
    key(qtbot, window, Qt.Key.Key_S)  # blue straggler for star002
    key(qtbot, window, Qt.Key.Key_X)  # bad data for star003
    assert window.review.session.state("star001").verdict is VerdictKind.BHB
    assert window.review.session.state("star003").verdict is VerdictKind.BAD_DATA
    assert "vetted 3/12" in window.status.counts_label.text()

    # a note: letters typed into the field are text, not verdicts
    window.verdict_panel.note_edit.setFocus()
    qtbot.keyClicks(window.verdict_panel.note_edit, "BSX faint")
    qtbot.keyClick(window.verdict_panel.note_edit, Qt.Key.Key_Return)
    assert window.review.session.state("star004").note == "BSX faint"
    assert window.review.session.state("star004").verdict is None
    assert window.focusWidget() is window.table

    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the note
    assert window.review.session.state("star004") is None
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo bad data of star003
    assert window.review.session.state("star003") is None
    assert current_id(window) == "star003"  # undo shows the candidate it changed
    selected = window.table.selectionModel().selectedRows()  # and only it: Ctrl held must not add a row
    assert [window.table.current_source_row()] == [window.table_model.source_row(i.row()) for i in selected]
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.review.session.state("star003").verdict is VerdictKind.BAD_DATA
    assert window.review.session.can_redo  # the note is still redoable

    key(qtbot, window, Qt.Key.Key_Space)  # next unvetted after star003
    assert current_id(window) == "star004"
    table_verdicts = {window.table_model.column("verdict")[i] for i in (1, 2, 3)}
    assert table_verdicts == {"BHB", "blue straggler", "bad data"}
    session_file = window.review.session.path
    window.close()

    # reopen: through the session file, in a new window
    win2 = MainWindow(tmp_path / "userdata", reviewer="tester")
    qtbot.addWidget(win2)
    win2.show()
    open_and_wait(qtbot, win2, session_file)
    assert win2.review.session.state("star002").verdict is VerdictKind.BLUE_STRAGGLER
    assert win2.table_model.column("verdict")[3] == "bad data"
    assert "vetted 3/12" in win2.status.counts_label.text()
    assert win2.review.session.can_redo and win2.verdict_panel.redo_button.isEnabled()
    win2.review.vetting.redo()
    assert win2.review.session.state("star004").note == "BSX faint"
    assert str(session_file) in [str(Path(p)) for p in win2.review.recent.paths()]
    win2.close()


def test_filters_and_uncertain_navigation(qtbot, window, tiny_dataset):
    open_and_wait(qtbot, window, tiny_dataset)
    window.table_model.set_scores(np.arange(12), np.linspace(0.0, 1.0, 12))
    window.filter_bar.min.setValue(0.3)
    window.filter_bar.max.setValue(0.9)
    window.review.browser.set_filter(window.filter_bar.filter())
    shown = [window.table_model.source_row(r) for r in range(window.table_model.rowCount())]
    assert shown == [4, 5, 6, 7, 8, 9]
    # Enter and letters typed into the filter boxes are not verdicts
    window.filter_bar.min.setFocus()
    qtbot.keyClick(window.filter_bar.min, Qt.Key.Key_Return)
    window.filter_bar.text.setFocus()
    qtbot.keyClicks(window.filter_bar.text, "B")
    qtbot.keyClick(window.filter_bar.text, Qt.Key.Key_Escape)  # clears the text, back to the table
    assert window.filter_bar.text.text() == "" and window.focusWidget() is window.table
    assert window.review.session.states() == {}
    key(qtbot, window, Qt.Key.Key_M)  # P closest to 0.5: rows 5 (0.4545) and 6 (0.5455) tie; first wins
    assert current_id(window) == "star005"
    key(qtbot, window, Qt.Key.Key_Return)  # accept the model's call: P < 0.5 is non-BHB
    assert window.review.session.state("star005").verdict is VerdictKind.NON_BHB
    key(qtbot, window, Qt.Key.Key_M)
    assert current_id(window) == "star006"
    key(qtbot, window, Qt.Key.Key_S)  # disagrees with P = 0.55
    assert window.table_model.disagrees(6)
    window.review.browser.navigate("previous")
    assert current_id(window) == "star006"
    assert not window.verdict_panel.disagree_label.isHidden()


def test_corrupt_file_shows_error_and_window_keeps_working(qtbot, window, tiny_dataset, tmp_path, errors):
    bad = tmp_path / "broken.fits"
    bad.write_bytes(b"SIMPLE  = this is not FITS" * 10)
    with qtbot.waitSignal(window.sigSettled, timeout=20000):
        window.review.open_path(bad)
    assert len(errors) == 1 and "broken.fits" in errors[0][1]
    open_and_wait(qtbot, window, tiny_dataset)
    key(qtbot, window, Qt.Key.Key_U)
    assert window.review.session.state("star000").verdict is VerdictKind.UNSURE


def test_real_error_dialog_is_non_modal(qtbot, tmp_path):
    win = MainWindow(tmp_path / "userdata", reviewer="tester")
    qtbot.addWidget(win)
    box = mw.show_error_dialog(win, "title", "/x.fits: not a FITS file")
    assert box.isVisible() and not box.isModal()
    box.close()


def test_window_renders_to_a_png_that_is_not_blank(qtbot, window, tiny_dataset, tmp_path):
    open_and_wait(qtbot, window, tiny_dataset)
    out = tmp_path / "shot.png"
    assert save_screenshot(window, out)
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    pixels = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes()).astype(float)
    assert pixels.std() > 20


def test_spectrum_file_opens_as_a_list_and_band_images_attach(qtbot, window, shared_data, tmp_path, errors):
    # a copy: opening a list writes its session next to it, and a test never writes into ../shared
    plate = tmp_path / "spPlate-4055-55359-0020.fits"
    shutil.copyfile(shared_data / "real" / plate.name, plate)
    open_and_wait(qtbot, window, plate)
    assert window.review.session.path.parent == tmp_path
    assert window.table_model.rowCount() == 20
    assert window.review.source.spectra.shape == (20, 3522) and window.review.source.cutouts is None
    # a one-star catalog at the stamps' star, then the five band stamps dropped on it
    from astropy.table import Table

    cat = tmp_path / "one.csv"
    Table({"id": ["stampstar"], "ra": [164.4311], "dec": [39.0359]}).write(cat)
    open_and_wait(qtbot, window, cat)
    stamps = sorted((shared_data / "real").glob("stamp-*.fits"))
    window.review.open_files(stamps)
    assert errors == []
    cube = window.review.source.cube(0)
    assert cube.shape == (5, 64, 64) and np.isfinite(cube).all()
    assert cube[:, 28:36, 28:36].sum() > cube[:, :8, :8].sum()  # the star is in the middle


def test_scoring_fills_the_table_is_cached_and_exported(qtbot, window, tiny_dataset, tiny_checkpoint, tmp_path):
    with qtbot.waitSignal(window.sigSettled, timeout=60000):
        window.review.open_path(tiny_dataset, tiny_checkpoint)
    p = window.table_model.column("p").copy()
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    assert "batmm" in window.verdict_panel.model_label.text()
    assert "on cpu" in window.status.device_label.text()
    info = window.review.scoring.model.info
    assert window.review.session.model.version == info.version
    cached = window.review.session.scores.load(info.name, info.version)
    assert len(cached) == 12 and cached["star003"] == pytest.approx(p[3])
    window.table.setFocus()
    key(qtbot, window, Qt.Key.Key_Return)  # accept the model's call for star000
    assert window.review.session.state("star000").verdict.model_class == int(p[0] >= 0.5)

    # File → Export gets the scores, the model and its validation curve
    from bhb_viewer.gui.export_dialog import ExportDialog

    dialog = ExportDialog(window, window.review.export_inputs(), window.runner)
    qtbot.addWidget(dialog)
    assert dialog.chooser.summary is not None
    dialog.set_format("ECSV")
    out = tmp_path / "vetted.ecsv"
    dialog.path_edit.setText(str(out))
    with qtbot.waitSignal(dialog.sigExported, timeout=10000):
        dialog.export()
    from astropy.table import Table

    table = Table.read(out)
    assert list(table["id"]) == ["star000"] and table["p_bhb"][0] == pytest.approx(p[0])
    assert table["model_version"][0] == info.version
    window.close()

    # reopening: the scores of this model version come from the session, not from the model again
    win2 = MainWindow(tmp_path / "userdata", reviewer="tester")
    qtbot.addWidget(win2)
    with qtbot.waitSignal(win2.sigSettled, timeout=60000):
        win2.review.open_path(tiny_dataset, tiny_checkpoint)
    assert "12 scores of this model version from the session" in win2.status.saved_label.text()
    assert np.allclose(win2.table_model.column("p"), p)
    win2.close()


def test_a_scoring_run_can_be_cancelled(qtbot, window, tmp_path, tiny_checkpoint):
    from tinysky import make_dataset

    dataset = make_dataset(tmp_path / "bigger", n=120)
    window.review.scoring.batch_size = 2
    window.review.open_path(dataset, tiny_checkpoint)
    qtbot.waitUntil(lambda: window.review.source is not None and np.isfinite(window.table_model.column("p")).sum() >= 2,
                    timeout=60000)
    with qtbot.waitSignal(window.sigSettled, timeout=60000):
        window.review.cancel_work()
    scored = int(np.isfinite(window.table_model.column("p")).sum())
    assert 2 <= scored < 120
    assert not window.runner.busy()
    key(qtbot, window, Qt.Key.Key_B)  # the window still works
    assert window.review.session.state("star000").verdict is VerdictKind.BHB


def test_bhb_viewer_screenshot_of_a_catalog_and_argument_errors_before_qt(qtbot, tiny_dataset, tmp_path):
    from bhb_viewer.gui.app import build_parser, launch

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--no-such-option"])
    out = tmp_path / "app.png"
    args = build_parser().parse_args([str(tiny_dataset), "--screenshot", str(out), "--data-dir", str(tmp_path / "ud"),
                                      "--reviewer", "me"])
    saved = []
    win = launch(args, saved.append)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: saved == [True], timeout=30000)
    win.close()
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    session = next(tiny_dataset.glob("*.session.sqlite"))
    with Session.open(session) as s:
        assert s.reviewer == "me"


def test_sdss_fetch_offline_uses_the_cache_and_reports_misses(qtbot, window, shared_data, tmp_path, errors):
    from astropy.table import Table

    from bhb_viewer.core.readers.cutouts import cube_from_files, write_cube
    from bhb_viewer.services.sdss import SDSSService

    ra, dec = 164.4311, 39.0359
    cache = tmp_path / "sdss-cache"
    cube = cube_from_files(sorted((shared_data / "real").glob("stamp-*.fits")), ra, dec)
    path = SDSSService(cache).cube_path(ra, dec)
    path.parent.mkdir(parents=True)
    write_cube(path, cube)
    cat = tmp_path / "one.csv"
    Table({"id": ["stampstar"], "ra": [ra], "dec": [dec]}).write(cat)
    open_and_wait(qtbot, window, cat)
    window.review.fetch.cache_dir = cache
    window.menus.offline.setChecked(True)
    with qtbot.waitSignal(window.sigSettled, timeout=20000):
        window.fetch_sdss()
    assert np.allclose(window.review.source.cube(0), cube.data)
    assert window.review.source.spectrum(0) is None
    assert len(errors) == 1 and "spectrum" in errors[0][1] and "offline" in errors[0][1]


def test_reopening_a_changed_catalog_warns_and_keeps_verdicts_by_id(qtbot, window, tmp_path, errors):
    from astropy.table import Table

    cat = tmp_path / "list.csv"
    Table({"id": ["a", "b"], "ra": [1.0, 2.0], "dec": [3.0, 4.0]}).write(cat)
    open_and_wait(qtbot, window, cat)
    key(qtbot, window, Qt.Key.Key_J)
    key(qtbot, window, Qt.Key.Key_O)
    Table({"id": ["c", "b", "a"], "ra": [0.5, 2.0, 1.0], "dec": [0.0, 4.0, 3.0]}).write(cat, overwrite=True)
    open_and_wait(qtbot, window, cat)
    assert len(errors) == 1 and "changed" in errors[0][0]
    assert list(window.table_model.column("verdict")) == ["", "other", ""]


def test_sorting_keeps_the_candidate_on_show_and_drop_opens_files(qtbot, window, tiny_dataset):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_dataset))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.sigSettled, timeout=20000):
        window.dropEvent(drop)
    assert window.table_model.rowCount() == 12
    window.table.setFocus()
    window.review.browser.navigate("next")
    window.review.browser.navigate("next")
    window.review.browser.navigate("next")
    assert current_id(window) == "star003"
    window.table_model.sort(0, Qt.SortOrder.DescendingOrder)
    assert window.table_model.source_row(0) == 11
    assert window.table.current_source_row() == 3 and current_id(window) == "star003"
    key(qtbot, window, Qt.Key.Key_B)
    assert window.review.session.state("star003").verdict is VerdictKind.BHB
    assert current_id(window) == "star002"  # "next" in the sorted order


def test_reference_spectra_are_the_class_means_of_a_labelled_set(tiny_dataset):
    from bhb_viewer.review.candidate_source import open_source

    source = open_source(tiny_dataset)
    mean_bhb, mean_non = source.reference_spectra()
    assert np.allclose(mean_bhb, np.asarray(source.spectra[1::2]).mean(axis=0), rtol=1e-5)
    assert np.allclose(mean_non, np.asarray(source.spectra[0::2]).mean(axis=0), rtol=1e-5)


def test_the_demo_opens_and_is_scored(qtbot, window, tiny_checkpoint):
    from bhb_viewer.review.candidate_source import DEMO_DATASET, find_resource, open_source

    n = len(open_source(find_resource(DEMO_DATASET)))
    with qtbot.waitSignal(window.sigSettled, timeout=120000):
        window.review.open_demo(tiny_checkpoint)  # the shipped data, a tiny model to keep the test quick
    assert window.table_model.rowCount() == n > 100
    assert np.isfinite(window.table_model.column("p")).all()
    assert set(window.table_model.column("classical")) <= {"pass", "fail", "no fit"}
    assert window.review.session.path.parent == window.review.data_dir / "sessions"  # shipped data stays untouched


def test_sessions_of_read_only_folders_go_to_the_user_data_dir(tmp_path):
    from astropy.table import Table

    from bhb_viewer.review.candidate_source import open_source, session_path_for

    folder = tmp_path / "readonly"
    folder.mkdir()
    Table({"id": ["a"], "ra": [1.0], "dec": [2.0]}).write(folder / "list.csv")
    source = open_source(folder / "list.csv")
    assert session_path_for(source, tmp_path / "ud") == folder / "list.session.sqlite"
    folder.chmod(0o555)
    try:
        path = session_path_for(source, tmp_path / "ud")
    finally:
        folder.chmod(0o755)
    assert path.parent == tmp_path / "ud" / "sessions" and path.name.startswith("list-")
