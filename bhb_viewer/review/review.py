"""One review: a candidate list, its verdict session, the candidate on show, and what a person can do.

:class:`Review` is the whole state of the review window without the window, and the place a list
is opened. It composes small parts, each with one job: :class:`~bhb_viewer.review.rows.CandidateRows`
(columns, filter, sort, the decision cut), :class:`~bhb_viewer.review.navigation.Navigator` (the
candidate on show and the moves), :class:`~bhb_viewer.review.browsing.Browser` (moves, jumps,
filter, sort, cut), :class:`~bhb_viewer.review.vetting.Vetting` (verdicts, notes, undo, redo)
over :class:`~bhb_viewer.review.actions.VerdictActions` (the session's writes and counts),
:class:`~bhb_viewer.review.mode.ReviewMode` (scores hidden, overlays, auto-advance),
:class:`~bhb_viewer.review.scoring.Scoring` (the model in use, its scores, classical fits, details)
and :class:`~bhb_viewer.review.attaching.Attacher` (cutouts dropped on a candidate, SDSS data);
which checkpoint is in use is :class:`~bhb_viewer.review.model_choice.ModelChooser`'s to say.
Slow work runs as :mod:`bhb_viewer.review.tasks` jobs on the runner it is given; what changed is
told through the plain callbacks of :class:`~bhb_viewer.review.events.ReviewEvents`, to which a
view subscribes.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core import grid
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions.verdicts import CandidateState, Session
from bhb_viewer.core.training.model_index import ModelIndex
from bhb_viewer.review.actions import VerdictActions
from bhb_viewer.review.attaching import Attacher
from bhb_viewer.review.browsing import Browser
from bhb_viewer.review.candidate_source import (
    DEMO_DATASET,
    CandidateSource,
    cube_from_band_files,
    find_resource,
    read_cutout,
    writable_folder,
)
from bhb_viewer.review.events import ReviewEvents
from bhb_viewer.review.fetching import SDSSFetch
from bhb_viewer.review.jobs import JobKind
from bhb_viewer.review.known_catalogue import KnownCatalogueSetting
from bhb_viewer.review.known_choice import KnownCatalogueChoice
from bhb_viewer.review.mode import ReviewMode
from bhb_viewer.review.model_choice import ModelChooser, Origin
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.opening import classify_files, open_session, session_target
from bhb_viewer.review.quality import Quality, QualityBatch, SpectrumQuality, quality_task
from bhb_viewer.review.recent import RecentFiles
from bhb_viewer.review.rows import CandidateRows
from bhb_viewer.review.runner import Runner
from bhb_viewer.review.scoring import Scoring
from bhb_viewer.review.tasks import Loaded, load_task
from bhb_viewer.review.vetting import Vetting

log = logging.getLogger(__name__)

__all__ = ["Candidate", "Review"]


@dataclass(frozen=True)
class Candidate:
    """What the verdict panel shows of one candidate.

    Attributes
    ----------
    row : int
        Source row.
    cid : str
        Candidate id.
    p_bhb : float
        The P(BHB) of the model in use; NaN when not scored.
    state : CandidateState or None
        The verdict and note in force, None when never touched.
    disagrees : bool
        The verdict contradicts the model's call at the cut.
    quality : Quality
        Valid fraction, the unreliable mark and the warnings of its spectrum.
    p_spectrum, p_image : float
        The spectrum head's and the image head's P(BHB) (NaN: not given).
    score_from : str
        Which score ``p_bhb`` is: 'fusion', 'spectrum', 'image', 'none'; '' when the model does not say.
    """

    row: int
    cid: str
    p_bhb: float
    state: CandidateState | None
    disagrees: bool
    quality: Quality
    p_spectrum: float = float("nan")
    p_image: float = float("nan")
    score_from: str = ""


def _prepare(data_dir: Path) -> str | None:
    """Make the user's data folder; what is wrong with it (read-only, not a folder), or None."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if writable_folder(data_dir):
            return None
        problem = "the folder is read-only"
    except OSError as exc:
        problem = f"{type(exc).__name__}: {exc.strerror or exc}"
    log.warning("data folder %s: %s", data_dir, problem)
    return (f"{data_dir}: {problem}. The recent-files list and the sessions of catalogs in read-only "
            "folders cannot be kept there (a catalog in a writable folder keeps its session beside it). "
            "Start bhb-viewer with --data-dir naming a writable folder.")


class Review:
    """The review of one candidate list in one session, driven by calls, reporting through events.

    Parameters
    ----------
    data_dir : Path
        The user's data folder: the recent-files list, sessions of read-only catalogs.
    runner : Runner
        Runs the background jobs (a Qt thread pool in the window, :class:`InlineRunner` headless).
    reviewer : str or None
        The name recorded with every verdict (default: the login name).
    device : str
        Where the model runs: 'auto', 'cpu', 'cuda'.
    shipped : Path or None
        The checkpoint a list gets when nothing else names one (the app passes the shipped model;
        None leaves such a list unscored, as headless tests want).

    Attributes
    ----------
    rows, nav, actions : CandidateRows, Navigator, VerdictActions
        The list's columns, the candidate on show, the session's writes.
    mode : ReviewMode
        Scores shown or hidden (the blind audit), the model's overlays on screen, auto-advance.
    vetting : Vetting
        Verdicts, the model's call and notes for the candidate on show; undo and redo.
    browser : Browser
        Moves, jumps to an id, the filter, the sort, the decision cut.
    scoring : Scoring
        The model in use, its scores, classical fits and per-candidate details.
    quality : SpectrumQuality
        Valid fraction and resolution per candidate (the unreliable mark).
    attach : Attacher
        Cutouts dropped on the candidate on show, spectra and cutouts fetched from SDSS.
    fetch : SDSSFetch
        SDSS spectra and cutouts of one candidate or many (its ``cache_dir``: None, the default cache).
    models : ModelChooser
        Which checkpoint scores the list (explicit > session's > active > shipped) and the user's
        active model; :meth:`choose_model` is the way to change it.
    known : KnownCatalogueChoice
        The user's catalogue of known stars (``known.setting``, kept in the data folder); ``known.use``
        changes it.
    recent : RecentFiles
    events : ReviewEvents
    wavelength : ndarray
        Å of every pixel of the spectra's grid.
    """

    def __init__(self, data_dir: Path, runner: Runner, reviewer: str | None = None, device: str = "auto",
                 shipped: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir_problem = _prepare(self.data_dir)
        self.runner = runner
        self.reviewer = reviewer or getpass.getuser() or "reviewer"
        self.source: CandidateSource | None = None
        self.rows = CandidateRows()
        self.nav = Navigator(self.rows)
        self.actions = VerdictActions(self.rows)
        self.recent = RecentFiles(self.data_dir)
        self.events = ReviewEvents()
        self.mode = ReviewMode()
        self.browser = Browser(self.rows, self.nav, self.actions, self.events, lambda: self.source is not None)
        self.vetting = Vetting(self.actions, self.rows, self.nav, self.mode, self.events, self.current,
                               self.browser.show_row)
        self.scoring = Scoring(self.rows, self.nav, runner, self.events, device)
        self.quality = SpectrumQuality(self.rows)
        self.attach = Attacher(lambda: self.source, self.nav, self.quality, self.scoring, self.events)
        self.fetch = SDSSFetch(runner, self.events, self.attach.fetched)
        self.models = ModelChooser(ModelIndex(self.data_dir), shipped)
        self.known = KnownCatalogueChoice(KnownCatalogueSetting(self.data_dir), runner, self.events, self.rows,
                                          self.nav, lambda: self.source)
        self.wavelength = grid.wavelength()
        self.events.scores_changed.connect(self.vetting.counts_changed)

    # -- state -------------------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        """The open verdict session, or None before a list is opened."""
        return self.actions.session

    @property
    def opened(self) -> CandidateSource:
        """The open list; raises RuntimeError before one is open (callers check :meth:`current` first)."""
        if self.source is None:
            raise RuntimeError("no candidate list is open")
        return self.source

    def current(self) -> tuple[int, str] | None:
        """The candidate on show as (source row, id), or None."""
        row = self.nav.current
        if self.source is None or self.session is None or row < 0:
            return None
        return row, str(self.source.ids[row])

    def score(self, row: int) -> float:
        """P(BHB) of source ``row`` (NaN when not scored)."""
        return float(self.rows.column("p")[row])

    def candidate(self, row: int) -> Candidate:
        """Id, scores, verdict in force, disagreement and quality of source ``row`` (a list must be open)."""
        cid = str(self.opened.ids[row])
        cols = self.rows.column
        return Candidate(row, cid, self.score(row), self.actions.states.get(cid), self.rows.disagrees(row),
                         self.quality.of(row), float(cols("p_spectrum")[row]), float(cols("p_image")[row]),
                         str(cols("score_from")[row]))

    def spectrum(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Wavelength, flux and inverse variance of source ``row`` on the model's grid; None when the
        list has no spectrum for it."""
        spectrum = self.source.spectrum(row) if self.source is not None else None
        return None if spectrum is None else (self.wavelength, *spectrum)

    def full_spectrum(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Wavelength, flux and ivar of source ``row`` over its file's whole range, or None where the
        list keeps only the model's grid (see :meth:`CandidateSource.full_spectrum`)."""
        return self.source.full_spectrum(row) if self.source is not None else None

    def cube(self, row: int) -> np.ndarray | None:
        """The 5×S×S u,g,r,i,z cutouts of source ``row``, or None."""
        return self.source.cube(row) if self.source is not None else None

    def check_data_dir(self) -> bool:
        """Say (as an error event) when the data folder cannot be written; True when it is usable."""
        if self.data_dir_problem is None:
            return True
        self.events.error.emit("The data folder is not writable", self.data_dir_problem)
        return False

    # -- opening -----------------------------------------------------------------------------
    def open_demo(self, model_dir: Path | None = None) -> None:
        """Open the built-in demo set, scored like any list (see :meth:`open_path`)."""
        try:
            dataset = find_resource(DEMO_DATASET)
        except BadInputError as exc:
            self.events.error.emit("The demo is not installed", str(exc))
            self.events.work_done.emit()
            return
        self.open_path(dataset, model_dir)

    def open_path(self, path: Path, model_dir: Path | None = None) -> None:
        """Open a catalog, data set, spectrum file or session (.sqlite; it reopens its list) in the background.

        The list is scored by the first usable checkpoint of: ``model_dir`` (it becomes the active
        model), the model its session was scored with, the user's active model, the shipped one
        (:mod:`~bhb_viewer.review.model_choice`).
        """
        path = Path(path)
        session_path = None
        if path.name.endswith(".sqlite"):
            try:
                target = session_target(path)
            except BadInputError as exc:
                self.events.error.emit("Cannot open the session", str(exc))
                self.events.work_done.emit()
                return
            session_path, path = target.session, target.candidates
        self.events.working.emit(f"opening {path.name}…")
        self.runner.submit(JobKind.LOAD, load_task(path, self.known.setting.get()),
                           on_batch=lambda loaded: self._loaded(loaded, model_dir, session_path),
                           on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("Cannot open the file", msg),
                           on_done=self._load_done)

    def _load_done(self, completed: bool) -> None:
        if not completed:
            self.events.working.emit("")
        self.events.work_done.emit()

    def _loaded(self, loaded: Loaded, model_dir: Path | None, session_path: Path | None) -> None:
        source = loaded.source
        try:
            opened = open_session(source, session_path, self.data_dir, self.reviewer)
        except (BadInputError, OSError) as exc:
            text = str(exc) if self.data_dir_problem is None else f"{exc}\n\n{self.data_dir_problem}"
            self.events.error.emit("Cannot open the session file", text)
            return
        if opened.warning is not None:
            self.events.error.emit(*opened.warning)
        if loaded.known_problem is not None:
            self.events.error.emit("Your catalogue of known stars was left out",
                                   f"{loaded.known_problem}\n\nThe list is matched against the shipped catalogues "
                                   "only; choose another file in File → Known stars.")
        self.known.base = None if loaded.known is None else loaded.known.base
        if self.session is not None:
            self.session.close()
        self.fetch.forget()
        self.runner.cancel(JobKind.QUALITY)
        self.source = source
        self.rows.set_catalog(source.catalog)
        uncounted = self.quality.bind(source)
        if len(uncounted):
            self.runner.submit(JobKind.QUALITY, quality_task(source, uncounted), on_batch=self._on_quality,
                               on_error=lambda msg: self.events.error.emit("Cannot count the valid pixels", msg))
        self.scoring.bind(source, opened.session)
        self.actions.attach(opened.session, source.ids)
        self.recent.add(opened.session.path)
        self.events.opened.emit(source, loaded.references)
        self.nav.set_current(0 if len(source) else -1, force=True)
        self.vetting.counts_changed()
        self._use_model_of_list(model_dir, opened.session)
        if not self.scoring.start():
            self.scoring.start_classical()

    def _on_quality(self, batch: QualityBatch) -> None:
        self.quality.add(batch)
        if self.nav.current >= 0 and np.any(batch.rows == self.nav.current):
            self.events.candidate_changed.emit(self.nav.current)

    def _use_model_of_list(self, explicit: Path | None, session: Session) -> None:
        """Score the list just opened with the model :class:`ModelChooser` picks (kept if already loaded)."""
        recorded = session.model.checkpoint if session.model is not None else None
        choice = self.models.for_list(explicit, Path(recorded) if recorded else None)
        for origin, path, problem in choice.passed_over:
            if origin is Origin.EXPLICIT:
                self.events.error.emit("Cannot score with that model", f"{path}: {problem}. Using {choice.reason}.")
        if choice.path is None:
            self.scoring.drop_model()
        elif choice.path != self.scoring.model.checkpoint:
            self.scoring.set_model(choice.path, start=False)

    def choose_model(self, model_dir: Path, start: bool = True) -> bool:
        """Score the open list with ``model_dir`` (now, or when scoring next starts: ``start``); it becomes
        the user's active model, the one later lists open with. False (an error event, nothing changes)
        when it cannot score."""
        try:
            path = self.models.choose(model_dir)
        except ValueError as exc:
            self.events.error.emit("Not a model", str(exc))
            return False
        self.scoring.set_model(path, start=start)
        return True

    def open_files(self, paths: list[Path]) -> None:
        """Files from the File menu or a drop: a candidate list (catalog, data set, spectra, session)
        opens; a cutout cube or per-band images become the cutouts of the candidate on show."""
        groups = classify_files(paths)
        for problem in groups.problems:
            self.events.error.emit("Cannot open the file", problem)
        for path in groups.cubes:
            self.attach.cutout(partial(read_cutout, path), path.name)
        if groups.band_images:
            self.attach.cutout(lambda: cube_from_band_files(groups.band_images, *self._position()),
                               f"{len(groups.band_images)} band images")
        if groups.lists:
            self.open_path(groups.lists[0])
            if len(groups.lists) > 1:
                skipped = ", ".join(p.name for p in groups.lists[1:])
                self.events.error.emit("One list at a time", f"opened {groups.lists[0].name}; not opened: {skipped}")

    def _position(self) -> tuple[float, float]:
        row = self.nav.current
        return float(self.rows.column("ra")[row]), float(self.rows.column("dec")[row])

    def cancel_work(self) -> None:
        """Cancel every background job: opening, scoring, the fits, explanations, SDSS fetches (what arrived stays)."""
        for kind in JobKind:
            self.runner.cancel(kind)

    def close(self) -> None:
        """Close the session (every verdict is already on disk)."""
        if self.session is not None:
            self.session.close()
            self.actions.session = None

    # -- SDSS, export ----------------------------------------------------------------------------
    def fetch_sdss(self, offline: bool = False) -> None:
        """Fetch the spectrum and cutouts of the candidate on show from SDSS (``offline``: the cache only)."""
        current = self.current()
        if current is not None:
            self.fetch.one(self.opened, current[0], offline)

    def fetch_sdss_rows(self, rows: np.ndarray | None = None, offline: bool = False) -> int:
        """Fetch, in the background, the spectra and cutouts of source ``rows`` (None: the whole list).

        Candidates that have both already are skipped, so running it again after a cancel resumes.
        Returns how many are to be fetched (0 when there is no list or nothing is missing).
        """
        if self.source is None or (rows is not None and not len(rows)):
            self.events.error.emit("Nothing to fetch", "Open a candidate list first." if self.source is None
                                   else "Select candidates in the table first.")
            return 0
        return self.fetch.many(self.source, rows, offline)

    def export_inputs(self) -> dict[str, Any]:
        """What :func:`bhb_viewer.core.exports.export.export_catalog` needs: keys catalog, session, scores, model,
        checkpoint and extra_columns (the classical diagnostics the catalog does not carry); empty
        before a list is open."""
        if self.source is None or self.session is None:
            return {}
        model = self.scoring.model
        return {"catalog": self.source.catalog, "session": self.session, "scores": model.scores(),
                "model": model.ref, "checkpoint": model.checkpoint,
                "extra_columns": {**self.scoring.classical.export_columns(self.source.catalog.colnames),
                                  **self.quality.export_columns(), **model.modality_columns()}}
