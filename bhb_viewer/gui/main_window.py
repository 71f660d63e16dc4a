"""The review window: candidate table, spectrum, cutouts and verdict panel over one session file.

It holds no science: rows come from :mod:`bhb_viewer.gui.candidate_source`, verdicts go to
:class:`bhb_viewer.core.verdicts.Session` the moment they are made, and everything slow (opening
big files, scoring, Balmer fits, explanations) runs as a :mod:`bhb_viewer.gui.tasks` job on the
:class:`bhb_viewer.gui.workers.TaskRunner`, whose results arrive as signals.
"""

from __future__ import annotations

import getpass
import json
import logging
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from bhb_viewer.core import grid
from bhb_viewer.core.balmer import passes_cuts
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.progress import ProgressEvent
from bhb_viewer.core.verdicts import CatalogRef, Session, VerdictKind, agreement, model_call
from bhb_viewer.gui.candidate_source import (
    CandidateSource,
    DEMO_DATASET,
    DEMO_MODEL,
    cube_from_band_files,
    file_kind,
    find_resource,
    read_cutout,
    session_path_for,
)
from bhb_viewer.gui.tasks import (
    ClassicalBatch,
    Detail,
    Loaded,
    ModelInfo,
    PredictorHolder,
    ScoreBatch,
    classical_task,
    detail_task,
    load_task,
    score_task,
    sdss_task,
)
from bhb_viewer.gui.widgets.candidate_table import STATE_FILTERS, CandidateTableModel, CandidateTableView
from bhb_viewer.gui.widgets.cutout_panel import CutoutPanel
from bhb_viewer.gui.widgets.spectrum_plot import SpectrumPlot
from bhb_viewer.gui.widgets.verdict_panel import (
    ACCEPT_KEY,
    BUTTON_KINDS,
    NAV_ACTIONS,
    FieldEdit,
    REDO_KEY,
    UNDO_KEY,
    VerdictPanel,
)
from bhb_viewer.gui.wizard.models_menu import install_menus
from bhb_viewer.gui.workers import TaskRunner

log = logging.getLogger(__name__)
RECENT_MAX = 10
DETAIL_CACHE = 2000  # candidates whose Balmer fit / explanation stay in memory
CLASSICAL_NAMES = {True: "pass", False: "fail"}


def show_error_dialog(parent: QWidget, title: str, text: str) -> QMessageBox:
    """A non-modal message box: the window behind it keeps working (tests replace this function)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


class MainWindow(QMainWindow):
    """One window reviewing one candidate list in one session."""

    sigSettled = Signal()  # a load finished and no background work is left (screenshots, tests)
    sigSaved = Signal(str, str)  # candidate id, what was written ("verdict:bhb", "note", "undo", ...)
    sigModelReady = Signal()  # the model is loaded and scoring proper begins

    def __init__(self, data_dir: Path, reviewer: str | None = None, device: str = "auto") -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.reviewer = reviewer or getpass.getuser() or "reviewer"
        self.device = device
        self.source: CandidateSource | None = None
        self.session: Session | None = None
        self.holder: PredictorHolder | None = None
        self.sdss = None  # SDSSService, made on first fetch
        self.sdss_cache: Path | None = None  # None: the service's default cache
        self.model_info: ModelInfo | None = None
        self.classical: dict[str, np.ndarray] = {}
        self.row_of_id: dict[str, int] = {}
        self.states: dict[str, Any] = {}
        self._balmer: OrderedDict[int, Any] = OrderedDict()
        self._explain: OrderedDict[int, Any] = OrderedDict()
        self.auto_advance = True
        self.score_batch_size = 64
        # The GUI thread shares the GIL with the workers: a 1 ms switch interval (Python's default is
        # 5 ms) bounds how long it waits for it while they score or fit.
        sys.setswitchinterval(0.001)
        self.runner = TaskRunner(self)
        self.runner.sigBusyChanged.connect(self._busy_changed)
        self.wavelength = grid.wavelength()

        self.setWindowTitle("bhb_viewer")
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self._build_widgets()
        self._build_actions()
        self._build_status_bar()
        self._refresh_recent()

    # -- construction ----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.stack = QStackedWidget()
        self.setCentralWidget(self.stack)

        start = QWidget()
        lay = QVBoxLayout(start)
        title = QLabel("<h2>bhb_viewer</h2>Vet Blue Horizontal Branch star candidates. Open a catalog, "
                       "a data set or a session, drop files here, or start with the demo.")
        title.setWordWrap(True)
        lay.addWidget(title)
        row = QHBoxLayout()
        demo = QPushButton("Open the demo")
        demo.clicked.connect(lambda: self.open_demo())
        other = QPushButton("Open catalog, data set or session…")
        other.clicked.connect(self._open_dialog)
        row.addWidget(demo)
        row.addWidget(other)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addWidget(QLabel("Recent sessions (double-click to reopen):"))
        self.recent_list = QListWidget()
        self.recent_list.itemActivated.connect(lambda item: self.open_path(Path(item.data(Qt.ItemDataRole.UserRole))))
        lay.addWidget(self.recent_list, 1)
        self.stack.addWidget(start)

        review = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(2, 2, 2, 2)
        filters = QHBoxLayout()
        self.filter_text = FieldEdit("filter id / note (Esc clears)")
        self.filter_text.setClearButtonEnabled(True)
        self.filter_min = QDoubleSpinBox()
        self.filter_max = QDoubleSpinBox()
        for box, value in ((self.filter_min, 0.0), (self.filter_max, 1.0)):
            box.setRange(0.0, 1.0)
            box.setSingleStep(0.05)
            box.setDecimals(2)
            box.setValue(value)
            box.setPrefix("P≥ " if box is self.filter_min else "P≤ ")
        self.filter_state = QComboBox()
        self.filter_state.addItems(STATE_FILTERS)
        self._filter_timer = QTimer(self, singleShot=True, interval=150)
        self._filter_timer.timeout.connect(self.apply_filter)
        self.filter_text.textChanged.connect(self._filter_timer.start)
        self.filter_min.valueChanged.connect(self._filter_timer.start)
        self.filter_max.valueChanged.connect(self._filter_timer.start)
        self.filter_state.currentIndexChanged.connect(self._filter_timer.start)
        filters.addWidget(self.filter_text, 2)
        filters.addWidget(self.filter_min)
        filters.addWidget(self.filter_max)
        filters.addWidget(self.filter_state)
        left_lay.addLayout(filters)
        self.model = CandidateTableModel(self)
        self.table = CandidateTableView()
        self.table.setModel(self.model)
        self.table.sigCurrentSourceRow.connect(self._show_row)
        # Drawing waits for the event loop to be idle, so holding J draws only the star it stops on.
        self._pending_row = -1
        self._draw_timer = QTimer(self, singleShot=True, interval=0)
        self._draw_timer.timeout.connect(self._draw_pending)
        left_lay.addWidget(self.table, 1)
        self.filter_text.sigLeave.connect(self.table.setFocus)
        self.verdict_panel = VerdictPanel()
        self.verdict_panel.sigVerdict.connect(self.record_verdict)
        self.verdict_panel.sigAcceptModel.connect(self.accept_model_call)
        self.verdict_panel.sigNote.connect(self.record_note)
        self.verdict_panel.sigNoteDone.connect(self.table.setFocus)
        self.verdict_panel.sigNavigate.connect(self.navigate)
        self.verdict_panel.sigUndo.connect(self.undo)
        self.verdict_panel.sigRedo.connect(self.redo)
        left_lay.addWidget(self.verdict_panel)

        right = QSplitter(Qt.Orientation.Vertical)
        self.spectrum_plot = SpectrumPlot()
        self.cutout_panel = CutoutPanel()
        right.addWidget(self.spectrum_plot)
        right.addWidget(self.cutout_panel)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        review.addWidget(left)
        review.addWidget(right)
        review.setSizes([540, 740])
        self.stack.addWidget(review)

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self._add_action(file_menu, "&Open…", self._open_dialog, QKeySequence.StandardKey.Open)
        self._add_action(file_menu, "Open &demo", lambda: self.open_demo())
        self._add_action(file_menu, "&Export…", self.open_export_dialog, "Ctrl+E")
        file_menu.addSeparator()
        self._add_action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        review = menu.addMenu("&Review")
        for kind in BUTTON_KINDS:
            self._add_action(review, kind.label, lambda k=kind: self.record_verdict(k), kind.key)
        self._add_action(review, "Accept the model's call", self.accept_model_call, ACCEPT_KEY)
        review.addSeparator()
        for action, (text, key) in NAV_ACTIONS.items():
            self._add_action(review, text, lambda a=action: self.navigate(a), key)
        review.addSeparator()
        self.undo_action = self._add_action(review, "Undo", self.undo, UNDO_KEY)
        self.redo_action = self._add_action(review, "Redo", self.redo, REDO_KEY)
        advance = self._add_action(review, "Advance after a verdict", lambda: None)
        advance.setCheckable(True)
        advance.setChecked(self.auto_advance)
        advance.toggled.connect(lambda on: setattr(self, "auto_advance", on))

        sdss = menu.addMenu("&SDSS")
        self._add_action(sdss, "&Fetch spectrum and cutouts of this candidate", self.fetch_sdss, "Ctrl+F")
        self.offline_action = self._add_action(sdss, "&Offline (cache only)", lambda: None)
        self.offline_action.setCheckable(True)

        model_menu = menu.addMenu("&Model")
        self._add_action(model_menu, "&Score all", self._score_all, "Ctrl+R")
        self._add_action(model_menu, "&Cancel background work", self.cancel_work, "Ctrl+.")
        self._add_action(model_menu, "Choose &model…", self._choose_model)
        install_menus(self)  # Models (the known checkpoints) and Tools → Train a model…

    def _add_action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        self.addAction(action)  # shortcuts work wherever focus is in the window
        return action

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("cancel")
        self.cancel_button.clicked.connect(self.cancel_work)
        self.work_label = QLabel("")
        self.counts_label = QLabel("")
        self.device_label = QLabel("no model")
        self.saved_label = QLabel("")
        for widget in (self.work_label, self.progress, self.cancel_button):
            bar.addWidget(widget)
        for widget in (self.saved_label, self.counts_label, self.device_label):
            bar.addPermanentWidget(widget)
        self._busy_changed(False)

    # -- opening -----------------------------------------------------------------------------
    def open_demo(self, model_dir: Path | None = None) -> None:
        """The built-in demo set, scored by the shipped model (or by ``model_dir``)."""
        try:
            dataset = find_resource(DEMO_DATASET)
        except BadInputError as exc:
            self.show_error("The demo is not installed", str(exc))
            self._maybe_settled()
            return
        if model_dir is None:
            try:
                model_dir = find_resource(DEMO_MODEL)
            except BadInputError as exc:
                self.show_error("The demo model is not installed: the demo opens unscored", str(exc))
        self.open_path(dataset, model_dir)

    def open_path(self, path: Path, model_dir: Path | None = None) -> None:
        """Open a catalog, data set, spectrum file or session (.sqlite) in the background."""
        path = Path(path)
        session_path = None
        if path.name.endswith(".sqlite"):
            try:
                with Session.open(path) as probe:
                    catalog_path = Path(probe.catalog.path)
                    model_dir = model_dir or (Path(probe.model.checkpoint) if probe.model and probe.model.checkpoint else None)
            except BadInputError as exc:
                self.show_error("Cannot open the session", str(exc))
                self._maybe_settled()
                return
            session_path = path
            path = catalog_path.parent if catalog_path.name == "catalog.ecsv" else catalog_path
        self.work_label.setText(f"opening {path.name}…")
        self.runner.submit(
            "load",
            load_task(path),
            on_batch=lambda loaded: self._source_loaded(loaded, model_dir, session_path),
            on_progress=self._on_progress,
            on_error=lambda msg: self.show_error("Cannot open the file", msg),
            on_done=self._load_done,
        )

    def _load_done(self, completed: bool) -> None:
        if not completed:
            self.work_label.setText("")
        self._maybe_settled()

    def _source_loaded(self, loaded: Loaded, model_dir: Path | None, session_path: Path | None) -> None:
        source = loaded.source
        try:
            session = self._open_session(source, session_path)
        except (BadInputError, OSError) as exc:
            self.show_error("Cannot open the session file", str(exc))
            return
        self.runner.cancel("score")
        self.runner.cancel("classical")
        self.runner.cancel("detail")
        if self.session is not None:
            self.session.close()
        self.source, self.session = source, session
        self._balmer.clear()
        self._explain.clear()
        self.classical = {}
        self.model.set_catalog(source.catalog)
        self.row_of_id = {cid: i for i, cid in enumerate(source.ids)}
        self.states = session.states()
        self.model.set_all_human({self.row_of_id[c]: (s.verdict, s.note) for c, s in self.states.items() if c in self.row_of_id})
        self._classical_from_catalog()
        if loaded.references is None:
            self.spectrum_plot.set_reference_spectra(None, None)
        else:
            self.spectrum_plot.set_reference_spectra(*loaded.references)
        self.stack.setCurrentIndex(1)
        self.setWindowTitle(f"bhb_viewer — {source.origin.name} — {session.path.name}")
        self._remember(session.path)
        self.table.select_view_row(0)
        self.table.setFocus()
        self._update_counts()
        self._undo_state()
        if model_dir is None and session.model is not None and session.model.checkpoint:
            if Path(session.model.checkpoint).is_dir() and self.holder is None:
                model_dir = Path(session.model.checkpoint)  # the model this session was reviewed with
        if model_dir is not None:
            self.set_model(model_dir, start=False)
        if not self.start_scoring():
            self._start_classical()

    def _start_classical(self) -> None:
        """Balmer-line fits of the whole list; after scoring, so the two never compete for the CPU."""
        if self.source is not None and self.source.spectra is not None and not self.classical:
            self.runner.submit("classical", classical_task(self.source), on_batch=self._on_classical,
                               on_progress=self._on_progress)

    def _open_session(self, source: CandidateSource, session_path: Path | None) -> Session:
        path = session_path or session_path_for(source, self.data_dir)
        ref = CatalogRef.from_file(source.catalog_file, len(source))
        if not path.exists():
            return Session.create(path, ref, self.reviewer)
        session = Session.open(path, reviewer=self.reviewer)
        if session.catalog.sha256 != ref.sha256:
            self.show_error("The catalog changed", f"{source.catalog_file} is not the file this session was started on "
                            f"({session.catalog.n_rows} rows then, {ref.n_rows} now); verdicts are matched by id.")
        return session

    def _classical_from_catalog(self) -> None:
        """A catalog that carries Xue-style diagnostics gets its classical verdict from them."""
        cat = self.source.catalog
        if all(c in cat.colnames for c in ("d02", "fm", "b_hg", "c_hg")):
            cols = {c: np.asarray(np.ma.filled(np.ma.asarray(cat[c], dtype=float), np.nan)) for c in ("d02", "fm", "b_hg", "c_hg")}
            cols["classical_bhb"] = passes_cuts(cols["d02"], cols["fm"], cols["b_hg"], cols["c_hg"])
            cols["balmer_ok"] = np.isfinite(cols["d02"]) & np.isfinite(cols["c_hg"])
            self._on_classical(ClassicalBatch(np.arange(len(cat)), cols))

    def set_model(self, model_dir: Path, start: bool = True) -> None:
        """Use the checkpoint in ``model_dir`` for scores and explanations (loaded in the background)."""
        self.holder = PredictorHolder(Path(model_dir), self.device)
        self.model_info = None
        self._explain.clear()
        self.device_label.setText(f"model {Path(model_dir).name}: loading")
        if start:
            self.start_scoring()

    def _remember(self, session_path: Path) -> None:
        recent = [str(Path(session_path).resolve())] + [p for p in self._recent() if p != str(Path(session_path).resolve())]
        (self.data_dir / "recent.json").write_text(json.dumps(recent[:RECENT_MAX]))
        self._refresh_recent()

    def _recent(self) -> list[str]:
        try:
            return [p for p in json.loads((self.data_dir / "recent.json").read_text()) if isinstance(p, str)]
        except (OSError, ValueError):
            return []

    def _refresh_recent(self) -> None:
        self.recent_list.clear()
        for path in self._recent():
            if Path(path).exists():
                item = QListWidgetItem(Path(path).name + "  —  " + str(Path(path).parent))
                item.setData(Qt.ItemDataRole.UserRole, path)
                self.recent_list.addItem(item)

    def _open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open a catalog, data set, spectrum file, cutout files or session", "",
            "Catalogs, spectra, cutouts, sessions (*.csv *.ecsv *.fits *.fit *.fts *.xml *.vot *.dat *.sqlite);;All files (*)",
        )
        self.open_files([Path(p) for p in paths])

    def open_files(self, paths: list[Path]) -> None:
        """Files from the File menu or a drop: a candidate list (catalog, data set, spectra, session)
        opens; a cutout cube or per-band images become the cutouts of the candidate on show."""
        band_images, lists = [], []
        for path in paths:
            if path.name.endswith(".sqlite"):
                lists.append(path)
                continue
            try:
                kind = file_kind(path)
            except BadInputError as exc:
                self.show_error("Cannot open the file", str(exc))
                continue
            if kind == "cube":
                self._attach_cutout(lambda p=path: read_cutout(p), path.name)
            elif kind == "image":
                band_images.append(path)
            else:
                lists.append(path)
        if band_images:
            self._attach_cutout(lambda: cube_from_band_files(band_images, *self._position()), f"{len(band_images)} band images")
        if lists:
            self.open_path(lists[0])
            if len(lists) > 1:
                self.show_error("One list at a time", f"opened {lists[0].name}; not opened: {', '.join(p.name for p in lists[1:])}")

    def fetch_sdss(self) -> None:
        """Fetch the candidate on show from SDSS (through the on-disk cache) in the background."""
        current = self._current()
        if current is None:
            return
        from bhb_viewer.services.sdss import SDSSService

        if self.sdss is None or self.sdss.offline != self.offline_action.isChecked():
            self.sdss = SDSSService(self.sdss_cache, offline=self.offline_action.isChecked())
        row = current[0]
        self.runner.submit("sdss", sdss_task(self.sdss, row, self.source.catalog[row]), on_batch=self._on_sdss,
                           on_progress=self._on_progress, on_error=lambda msg: self.show_error("SDSS", msg))

    def _on_sdss(self, detail: Detail) -> None:
        if detail.kind == "spectrum":
            self.source.extra_spectra[detail.row] = detail.value
            self._balmer.pop(detail.row, None)
        else:
            self.source.extra_cubes[detail.row] = detail.value
        self._explain.pop(detail.row, None)
        if detail.row == self.table.current_source_row():
            self._draw_row(detail.row)

    def _position(self) -> tuple[float, float]:
        row = self.table.current_source_row()
        return float(self.model.column("ra")[row]), float(self.model.column("dec")[row])

    def _attach_cutout(self, make_cube, what: str) -> None:
        """Give the candidate on show the cube ``make_cube()`` builds (its explanation is redone)."""
        current = self._current()
        if current is None:
            self.show_error("No candidate to attach cutouts to", f"open a candidate list first, then drop {what} on it")
            return
        try:
            cube = make_cube()
        except BadInputError as exc:
            self.show_error("Cannot use the cutouts", str(exc))
            return
        row = current[0]
        self.source.extra_cubes[row] = cube
        self._explain.pop(row, None)
        self._draw_row(row)
        self.saved_label.setText(f"cutouts from {what} shown for {current[1]}")

    def _choose_model(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a model checkpoint directory")
        if path:
            self.set_model(Path(path))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.open_files([Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()])
        event.acceptProposedAction()

    # -- background results ------------------------------------------------------------------
    def start_scoring(self) -> bool:
        """Score every candidate (cached scores first); a running scoring is cancelled, this one queued.
        Returns whether scoring was started."""
        if self.source is None or self.holder is None:
            return False
        if not self.source.scorable:
            self.device_label.setText("no spectra + cutouts: nothing to score")
            return False
        rows = np.arange(len(self.source))
        self.runner.submit(
            "score",
            score_task(self.holder, self.source, self.session, rows, self.score_batch_size),
            on_batch=self._on_score,
            on_progress=self._on_progress,
            on_error=lambda msg: self.show_error("Scoring failed", msg),
            on_done=self._score_done,
        )
        return True

    def _score_all(self) -> None:
        if self.source is not None and self.holder is None:
            self.show_error("No model", "Choose a model checkpoint first (Model → Choose model…).")
        elif self.source is not None and not self.source.scorable:
            self.show_error("Nothing to score", "The model needs each candidate's spectrum and cutouts; "
                            "this list has no arrays (fetch them from SDSS, or open a data set).")
        else:
            self.start_scoring()

    def cancel_work(self) -> None:
        for kind in ("score", "classical", "load"):
            self.runner.cancel(kind)

    def _on_score(self, item: ModelInfo | ScoreBatch) -> None:
        if isinstance(item, ModelInfo):
            self.model_info = item
            self.verdict_panel.set_model(item.name, item.version, item.device)
            self.device_label.setText(f"{item.name} ({item.version}) scores on {item.device}")
            if self.session is not None:
                self.session.set_model(item.ref)
            self.sigModelReady.emit()
            return
        self.model.set_scores(item.rows, item.p_bhb)
        if item.cached:
            self.saved_label.setText(f"{len(item.rows)} scores of this model version from the session")
        current = self.table.current_source_row()
        if current >= 0 and np.any(item.rows == current):
            self._show_verdict_state(current)
        self._update_counts()

    def _score_done(self, completed: bool) -> None:
        if completed:
            self._refilter_keep_current()
        if not self.runner.is_running("score"):
            self._start_classical()
        self._maybe_settled()

    def _on_classical(self, batch: ClassicalBatch) -> None:
        n = len(self.source)
        for name, values in batch.columns.items():
            if name not in self.classical:
                self.classical[name] = np.full(n, np.nan) if values.dtype.kind == "f" else np.zeros(n, dtype=values.dtype)
            self.classical[name][batch.rows] = values
        labels = np.where(batch.columns["balmer_ok"], np.where(batch.columns["classical_bhb"], "pass", "fail"), "no fit")
        self.model.set_classical(batch.rows, labels)

    def _on_progress(self, event: ProgressEvent) -> None:
        self.work_label.setText(f"{event.stage}: {event.message}".strip(": "))
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
        else:
            self.progress.setRange(0, 0)

    def _busy_changed(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.work_label.setText("")
            self._maybe_settled()

    def _maybe_settled(self) -> None:
        if not self.runner.busy():
            self.sigSettled.emit()

    def _on_detail(self, detail: Detail) -> None:
        cache = self._balmer if detail.kind == "balmer" else self._explain
        cache[detail.row] = detail.value
        while len(cache) > DETAIL_CACHE:
            cache.popitem(last=False)
        if detail.row == self._pending_row and not self._draw_timer.isActive():
            self._apply_overlays(detail.row)

    # -- showing a candidate ----------------------------------------------------------------
    def _show_row(self, row: int) -> None:
        """Show candidate ``row``: its verdict at once, its plots as soon as the event queue is empty."""
        self._show_verdict_state(row)
        self._pending_row = row
        self._draw_timer.start()

    def _draw_pending(self) -> None:
        row, source = self._pending_row, self.source
        if source is None or not 0 <= row < len(source):
            return
        self._draw_row(row)

    def _draw_row(self, row: int) -> None:
        """Draw candidate ``row``: spectrum, cutouts, overlays known so far; fetch what is missing."""
        source = self.source
        spectrum = source.spectrum(row)
        if spectrum is None:
            self.spectrum_plot.clear()
        else:
            self.spectrum_plot.set_spectrum(self.wavelength, *spectrum)
        cube = source.cube(row)
        if cube is None:
            self.cutout_panel.clear()
        else:
            self.cutout_panel.set_cube(cube)
        self._apply_overlays(row)
        need_balmer = spectrum is not None and row not in self._balmer
        need_explain = self.holder is not None and spectrum is not None and cube is not None and row not in self._explain
        if need_balmer or need_explain:
            self.runner.submit("detail", detail_task(row, source, self.holder, need_balmer, need_explain),
                               on_batch=self._on_detail)

    def _apply_overlays(self, row: int) -> None:
        explanation = self._explain.get(row)
        if explanation is None:
            self.spectrum_plot.set_segment_weights(None)
            self.spectrum_plot.set_saliency(None)
            self.cutout_panel.set_attention(None)
            self.cutout_panel.set_band_weights(None)
        else:
            self.spectrum_plot.set_segment_weights(explanation.segment_weights)
            self.spectrum_plot.set_saliency(explanation.saliency)
            self.cutout_panel.set_attention(explanation.attention_map)
            self.cutout_panel.set_band_weights(explanation.band_weights)
        self.spectrum_plot.set_balmer(self._balmer.get(row))

    def _show_verdict_state(self, row: int) -> None:
        cid = str(self.source.ids[row])
        p = float(self.model.column("p")[row])
        self.verdict_panel.show_candidate(cid, p, self.states.get(cid), self.model.disagrees(row))

    # -- recording ------------------------------------------------------------------------------
    def _current(self) -> tuple[int, str] | None:
        if self.session is None or self.stack.currentIndex() != 1:
            return None
        row = self.table.current_source_row()
        return (row, str(self.source.ids[row])) if row >= 0 else None

    def record_verdict(self, kind: VerdictKind) -> None:
        current = self._current()
        if current is None:
            return
        row, cid = current
        self._write(lambda: self.session.set_verdict(cid, kind), f"verdict:{kind.value}", cid)
        if self.auto_advance:
            self.navigate("next")

    def accept_model_call(self) -> None:
        current = self._current()
        if current is None or isinstance(self.focusWidget(), QAbstractSpinBox):
            return  # Enter in a score-range box confirms the box, it is not a verdict
        p = float(self.model.column("p")[current[0]])
        if np.isfinite(p):
            self.record_verdict(model_call(p, self.model.cut))

    def record_note(self, text: str) -> None:
        current = self._current()
        if current is not None:
            self._write(lambda: self.session.set_note(current[1], text), "note", current[1])

    def undo(self) -> None:
        if self.session is not None:
            self._write(self.session.undo, "undo", None)

    def redo(self) -> None:
        if self.session is not None:
            self._write(self.session.redo, "redo", None)

    def _write(self, call, what: str, cid: str | None) -> None:
        """Write through the session (durable when it returns), then show the candidate's new state."""
        try:
            change = call()
        except Exception as exc:  # a full disk or a locked file must not close the window
            self.show_error("The verdict was NOT saved", f"{type(exc).__name__}: {exc}")
            return
        if change is None:
            return
        cid = change.cid
        state = self.session.state(cid)
        if state is None:
            self.states.pop(cid, None)
        else:
            self.states[cid] = state
        row = self.row_of_id.get(cid)
        if row is not None:
            self.model.set_human(row, state.verdict if state else None, state.note if state else "")
            if what in ("undo", "redo") and row != self.table.current_source_row():
                self._select_source_row(row)
            elif row == self.table.current_source_row():
                self._show_verdict_state(row)
        self.saved_label.setText(f"saved {what.split(':')[0]} of {cid}")
        self._update_counts()
        self._undo_state()
        self.sigSaved.emit(cid, what)

    def _undo_state(self) -> None:
        can_undo = self.session is not None and self.session.can_undo
        can_redo = self.session is not None and self.session.can_redo
        self.verdict_panel.set_undo_state(can_undo, can_redo)

    def _update_counts(self) -> None:
        if self.source is None:
            return
        vetted = sum(1 for s in self.states.values() if s.verdict is not None)
        p = self.model.column("p")
        scores = {c: float(p[self.row_of_id[c]]) for c in self.states if c in self.row_of_id and np.isfinite(p[self.row_of_id[c]])}
        agree, comparable = agreement(self.states, scores, self.model.cut)
        text = f"vetted {vetted}/{len(self.source)}"
        if comparable:
            text += f" · agrees with model {agree}/{comparable} ({100 * agree / comparable:.0f} %)"
        self.counts_label.setText(text)

    # -- navigation -----------------------------------------------------------------------------
    def navigate(self, action: str) -> None:
        if self.source is None or self.stack.currentIndex() != 1:
            return
        view = self.table.currentIndex().row()
        if action == "next":
            target = min(view + 1, self.model.rowCount() - 1)
        elif action == "previous":
            target = max(view - 1, 0)
        elif action == "unvetted":
            target = self.model.next_unvetted(view)
        elif action == "uncertain":
            target = self.model.most_uncertain()
        else:
            raise ValueError(f"unknown navigation {action!r}")
        if target >= 0:
            self.table.select_view_row(target)

    def _select_source_row(self, row: int) -> None:
        view = self.model.view_row(row)
        if view < 0:  # filtered out: clear the filters so the candidate can be shown
            self.filter_text.clear()
            self.filter_state.setCurrentIndex(0)
            self.filter_min.setValue(0.0)
            self.filter_max.setValue(1.0)
            self.apply_filter()
            view = self.model.view_row(row)
        self.table.select_view_row(view)

    def apply_filter(self) -> None:
        lo, hi = self.filter_min.value(), self.filter_max.value()
        score_range = None if (lo, hi) == (0.0, 1.0) else (lo, hi)
        current = self.table.current_source_row()
        self.model.set_filter(score_range, self.filter_state.currentText(), self.filter_text.text())
        self._reselect(current)

    def _refilter_keep_current(self) -> None:
        current = self.table.current_source_row()
        self.model.refilter()
        self._reselect(current)

    def _reselect(self, source_row: int) -> None:
        view = self.model.view_row(source_row) if source_row >= 0 else -1
        self.table.select_view_row(view if view >= 0 else 0)

    # -- export ---------------------------------------------------------------------------------
    def open_export_dialog(self) -> None:
        if self.source is None or self.session is None:
            self.show_error("Nothing to export", "Open a catalog first.")
            return
        from bhb_viewer.gui.export_dialog import ExportDialog

        dialog = ExportDialog(self, self.export_inputs(), self.runner)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def export_inputs(self) -> dict[str, Any]:
        """What core.export needs from the window: catalog, session, scores, model, diagnostics."""
        p = self.model.column("p")
        scored = np.flatnonzero(np.isfinite(p))
        ids = self.source.ids
        return {
            "catalog": self.source.catalog,
            "session": self.session,
            "scores": {str(ids[i]): float(p[i]) for i in scored} if len(scored) else None,
            "model": self.model_info.ref if self.model_info else None,
            "checkpoint": self.holder.checkpoint if self.holder else None,
            "extra_columns": {k: v for k, v in self.classical.items() if k in ("d02", "fm", "b_hg", "c_hg", "classical_bhb")
                              and k not in self.source.catalog.colnames},
        }

    # -- errors and closing ---------------------------------------------------------------------
    def show_error(self, title: str, text: str) -> None:
        self.work_label.setText("")
        log.warning("%s: %s", title, text)  # also on stderr, for --screenshot runs and logs
        show_error_dialog(self, title, text)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.runner.shutdown(10_000)
        if self.session is not None:
            self.session.close()
            self.session = None
        super().closeEvent(event)
