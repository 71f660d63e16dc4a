"""One review: a candidate list, its verdict session, the candidate on show, and what a person can do.

:class:`Review` is the whole state of the review window without the window. It composes small
parts, each with one job: :class:`~bhb_viewer.review.rows.CandidateRows` (columns, filter, sort,
the decision cut), :class:`~bhb_viewer.review.navigation.Navigator` (the candidate on show and
the moves), :class:`~bhb_viewer.review.actions.VerdictActions` (writes, undo, redo, counts) and
:class:`~bhb_viewer.review.scoring.Scoring` (the model in use, its scores, classical fits, details);
which checkpoint is in use is :class:`~bhb_viewer.review.model_choice.ModelChooser`'s to say.
Slow work runs as :mod:`bhb_viewer.review.tasks` jobs on the runner it is given; what changed is
told through the plain callbacks of :class:`~bhb_viewer.review.events.ReviewEvents`, to which a
view subscribes.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bhb_viewer.core import grid
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions.verdicts import CandidateState, Session, VerdictKind, model_call
from bhb_viewer.core.training.model_index import ModelIndex
from bhb_viewer.review.actions import VerdictActions
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
from bhb_viewer.review.filters import Filter, SortOrder
from bhb_viewer.review.jobs import JobKind
from bhb_viewer.review.known_catalogue import KnownCatalogueSetting, KnownMatch
from bhb_viewer.review.model_choice import ModelChooser, Origin
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.opening import classify_files, open_session, session_target
from bhb_viewer.review.quality import Quality, QualityBatch, SpectrumQuality, quality_task
from bhb_viewer.review.recent import RecentFiles
from bhb_viewer.review.rows import CandidateRows
from bhb_viewer.review.runner import Runner
from bhb_viewer.review.scoring import Scoring
from bhb_viewer.review.tasks import Loaded, known_task, load_task

if TYPE_CHECKING:
    from bhb_viewer.core.readers.spectra import GridSpectrum

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
    rows : CandidateRows
    nav : Navigator
    actions : VerdictActions
    scoring : Scoring
        The model in use, its scores, classical fits and per-candidate details.
    quality : SpectrumQuality
        Valid fraction and resolution per candidate (the unreliable mark).
    fetch : SDSSFetch
        SDSS spectra and cutouts of one candidate or many.
    recent : RecentFiles
    events : ReviewEvents
    wavelength : ndarray
        Å of every pixel of the spectra's grid.
    auto_advance : bool
        Go to the next candidate after a verdict.
    advance_move : str
        The navigator move auto-advance takes: "next", or "audit" while a blind audit hides the scores.
    scores_hidden : bool
        The scores, the heads' scores and the "≠ model" mark are hidden (a blind audit).
    model_overlays : tuple of str
        The overlays of the model's view the window shows (segment shading, saliency, attention), as
        it reports them: while any is on screen a verdict is not blind even with the scores hidden.
    models : ModelChooser
        Which checkpoint scores the list (explicit > session's > active > shipped) and the user's
        active model; :meth:`choose_model` is the way to change it.
    known_catalogue : KnownCatalogueSetting
        The user's own catalogue of known stars (kept in the data folder); :meth:`set_known_catalogue`
        is the way to change it.
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
        self.scoring = Scoring(self.rows, self.nav, runner, self.events, device)
        self.quality = SpectrumQuality(self.rows)
        self.fetch = SDSSFetch(runner, self.events, self._attach_fetched)
        self.auto_advance = True
        self.advance_move = "next"
        self.scores_hidden = False
        self.model_overlays: tuple[str, ...] = ()
        self.models = ModelChooser(ModelIndex(self.data_dir), shipped)
        self.known_catalogue = KnownCatalogueSetting(self.data_dir)
        self._known_base: tuple[np.ndarray, np.ndarray] | None = None  # the open list's matches before the user's catalogue
        self.sdss_cache: Path | None = None  # None: the SDSS service's default cache
        self.wavelength = grid.wavelength()
        self.actions.changed.connect(self._written)
        self.actions.failed.connect(self.events.error.emit)
        self.events.scores_changed.connect(self._counts_changed)

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
        """The candidate on show as (source row, id), or None.

        Returns
        -------
        tuple of (int, str) or None
        """
        row = self.nav.current
        if self.source is None or self.session is None or row < 0:
            return None
        return row, str(self.source.ids[row])

    def score(self, row: int) -> float:
        """P(BHB) of source ``row`` (NaN when not scored)."""
        return float(self.rows.column("p")[row])

    def candidate(self, row: int) -> Candidate:
        """Id, score, verdict in force and disagreement of source ``row`` (a list must be open).

        Parameters
        ----------
        row : int

        Returns
        -------
        Candidate
        """
        cid = str(self.opened.ids[row])
        cols = self.rows.column
        return Candidate(row, cid, self.score(row), self.actions.states.get(cid), self.rows.disagrees(row),
                         self.quality.of(row), float(cols("p_spectrum")[row]), float(cols("p_image")[row]),
                         str(cols("score_from")[row]))

    def spectrum(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Wavelength, flux and inverse variance of source ``row`` on the model's grid, or None.

        Parameters
        ----------
        row : int

        Returns
        -------
        tuple of three ndarray, or None
            None when the list has no spectrum for this candidate.
        """
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
        """Say (as an error event) when the data folder cannot be written; the review goes on without it.

        Returns
        -------
        bool
            Whether the folder is usable.
        """
        if self.data_dir_problem is None:
            return True
        self.events.error.emit("The data folder is not writable", self.data_dir_problem)
        return False

    # -- opening -----------------------------------------------------------------------------
    def open_demo(self, model_dir: Path | None = None) -> None:
        """Open the built-in demo set, scored like any list (see :meth:`open_path`).

        Parameters
        ----------
        model_dir : Path or None
            A checkpoint chosen for it (it becomes the active model).
        """
        try:
            dataset = find_resource(DEMO_DATASET)
        except BadInputError as exc:
            self.events.error.emit("The demo is not installed", str(exc))
            self.events.work_done.emit()
            return
        self.open_path(dataset, model_dir)

    def open_path(self, path: Path, model_dir: Path | None = None) -> None:
        """Open a catalog, data set, spectrum file or session (.sqlite) in the background.

        The list is scored by the first usable checkpoint of: ``model_dir``, the model its session
        was scored with, the user's active model, the shipped one (:mod:`~bhb_viewer.review.model_choice`).

        Parameters
        ----------
        path : Path
            What to open; a session reopens its list.
        model_dir : Path or None
            A checkpoint chosen for this list (it becomes the active model).
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
        self.runner.submit(JobKind.LOAD, load_task(path, self.known_catalogue.get()),
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
        self._known_base = None if loaded.known is None else loaded.known.base
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
        self._counts_changed()
        self._use_model_of_list(model_dir, opened.session)
        if not self.scoring.start():
            self.scoring.start_classical()

    def set_known_catalogue(self, path: Path | None) -> None:
        """Use ``path`` as the user's catalogue of known stars (None: the shipped catalogues only).

        The file is read and the open list matched against it in the background; the setting is kept
        (in the data folder) only when the file can be used, else an error event says what is wrong.

        Parameters
        ----------
        path : Path or None
            A table with ra and dec (and optionally ``known_as`` labels), as ``bhb score --known`` reads.
        """
        source = self.source
        catalog = None if source is None or self._known_base is None else source.catalog
        self.events.working.emit("reading the catalogue of known stars…")
        self.runner.submit(JobKind.KNOWN, known_task(path, catalog, self._known_base),
                           on_batch=lambda match: self._known_matched(path, source, match),
                           on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("Cannot use that catalogue of known stars", msg),
                           on_done=self._known_done)

    def _known_done(self, completed: bool) -> None:
        self.events.working.emit("")
        self.events.work_done.emit()

    def _known_matched(self, path: Path | None, source: CandidateSource | None, match: KnownMatch | None) -> None:
        try:
            self.known_catalogue.set(path)
        except OSError as exc:
            self.events.error.emit("Cannot keep the catalogue of known stars",
                                   f"{exc}; it is used for the open list only.")
        if match is None or source is None or source is not self.source:
            return  # no list, or another list opened meanwhile (matched when it loaded)
        source.catalog["known_as"], source.catalog["known_sep_arcsec"] = match.known_as, match.sep
        self.rows.set_known(match.known_as, match.sep)
        if self.nav.current >= 0:
            self.events.candidate_changed.emit(self.nav.current)
        n = int(np.count_nonzero(match.known_as != ""))
        self.events.notice.emit(f"known stars: {n} of {len(source)} candidates in a catalogue")

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
        """Score the open list with ``model_dir`` (a Models menu pick, a trained model made active);
        it becomes the user's active model, the one later lists open with.

        Parameters
        ----------
        model_dir : Path
        start : bool
            Score the list now (else when scoring is next started).

        Returns
        -------
        bool
            False when ``model_dir`` cannot score (said as an error event; nothing changes).
        """
        try:
            path = self.models.choose(model_dir)
        except ValueError as exc:
            self.events.error.emit("Not a model", str(exc))
            return False
        self.scoring.set_model(path, start=start)
        return True

    def open_files(self, paths: list[Path]) -> None:
        """Files from the File menu or a drop: a candidate list (catalog, data set, spectra, session)
        opens; a cutout cube or per-band images become the cutouts of the candidate on show.

        Parameters
        ----------
        paths : list of Path
        """
        groups = classify_files(paths)
        for problem in groups.problems:
            self.events.error.emit("Cannot open the file", problem)
        for path in groups.cubes:
            self.attach_cutout(partial(read_cutout, path), path.name)
        if groups.band_images:
            self.attach_cutout(lambda: cube_from_band_files(groups.band_images, *self._position()),
                               f"{len(groups.band_images)} band images")
        if groups.lists:
            self.open_path(groups.lists[0])
            if len(groups.lists) > 1:
                skipped = ", ".join(p.name for p in groups.lists[1:])
                self.events.error.emit("One list at a time", f"opened {groups.lists[0].name}; not opened: {skipped}")

    def _position(self) -> tuple[float, float]:
        row = self.nav.current
        return float(self.rows.column("ra")[row]), float(self.rows.column("dec")[row])

    def attach_cutout(self, make_cube: Callable[[], np.ndarray], what: str) -> bool:
        """Give the candidate on show the cube ``make_cube()`` builds (its explanation is redone).

        Parameters
        ----------
        make_cube : callable
            Returns a 5×S×S u,g,r,i,z cube; may raise BadInputError.
        what : str
            Where the cube comes from, for messages.

        Returns
        -------
        bool
            Whether the cube was attached.
        """
        current = self.current()
        if current is None:
            self.events.error.emit("No candidate to attach cutouts to",
                                   f"open a candidate list first, then drop {what} on it")
            return False
        try:
            cube = make_cube()
        except BadInputError as exc:
            self.events.error.emit("Cannot use the cutouts", str(exc))
            return False
        row, cid = current
        self.opened.extra_cubes[row] = cube
        self.scoring.details.forget(row)
        self.events.data_changed.emit(row)
        self.events.notice.emit(f"cutouts from {what} shown for {cid}")
        return True

    def _on_quality(self, batch: QualityBatch) -> None:
        self.quality.add(batch)
        if self.nav.current >= 0 and np.any(batch.rows == self.nav.current):
            self.events.candidate_changed.emit(self.nav.current)

    def cancel_work(self) -> None:
        """Cancel every background job: opening, scoring, the fits, explanations, SDSS fetches (what arrived stays)."""
        for kind in JobKind:
            self.runner.cancel(kind)

    def close(self) -> None:
        """Close the session (every verdict is already on disk)."""
        if self.session is not None:
            self.session.close()
            self.actions.session = None

    # -- navigation, filter, sort, cut ---------------------------------------------------------
    def navigate(self, action: str) -> int:
        """Move to the candidate ``action`` names (see :data:`~bhb_viewer.review.navigation.MOVES`).

        Parameters
        ----------
        action : str

        Returns
        -------
        int
            The source row on show, or -1 when there was nowhere to go.
        """
        if self.source is None:
            return -1
        return self.nav.move(action)

    def show_row(self, row: int) -> None:
        """Show source ``row``, clearing the filter first when it hides that candidate.

        Parameters
        ----------
        row : int
        """
        if self.rows.view_row(row) < 0:
            self.set_filter(Filter())
            self.events.filter_changed.emit(self.rows.filter)
        self.nav.set_current(row)

    def jump_to_id(self, cid: str) -> bool:
        """Show the candidate with id ``cid``.

        Parameters
        ----------
        cid : str

        Returns
        -------
        bool
            False when the list has no such candidate.
        """
        row = self.actions.row_of_id.get(str(cid))
        if row is None:
            return False
        self.show_row(row)
        return True

    def set_filter(self, filter_: Filter) -> None:
        """List only the candidates ``filter_`` keeps; the one on show stays if it is kept.

        Parameters
        ----------
        filter_ : Filter
        """
        self.rows.set_filter(filter_)
        self.nav.reselect()

    def set_sort(self, order: SortOrder | None) -> None:
        """Sort the list (None: catalog order); the candidate on show stays.

        Parameters
        ----------
        order : SortOrder or None
        """
        self.rows.sort(order)

    def set_cut(self, cut: float) -> None:
        """Move the decision cut: the model's call, disagreements and agreement follow.

        Parameters
        ----------
        cut : float
            P(BHB) at which the model's call turns BHB.
        """
        self.rows.set_cut(cut)
        if self.nav.current >= 0:
            self.events.candidate_changed.emit(self.nav.current)
        self._counts_changed()

    # -- verdicts ------------------------------------------------------------------------------
    @property
    def blind(self) -> bool:
        """Whether a verdict made now is recorded as blind: the scores hidden and no overlay of the
        model's view on screen (they show which way, and how hard, the model leans)."""
        return self.scores_hidden and not self.model_overlays

    def record_verdict(self, kind: VerdictKind) -> None:
        """Record ``kind`` for the candidate on show (durably), then go to the next if auto-advancing.

        Parameters
        ----------
        kind : VerdictKind
        """
        current = self.current()
        if current is None:
            return
        self.actions.set_verdict(current[1], kind, blind=self.blind)
        if self.auto_advance and not self.actions.last_failed:  # a verdict not saved keeps its star on show
            self.navigate(self.advance_move)

    def accept_model_call(self) -> None:
        """Record the model's call at the cut for the candidate on show (nothing if it is unscored)."""
        current = self.current()
        if current is None:
            return
        p = self.score(current[0])
        if np.isfinite(p):
            self.record_verdict(model_call(p, self.rows.cut))

    def record_note(self, text: str) -> None:
        """Record ``text`` as the note of the candidate on show ('' clears it).

        Parameters
        ----------
        text : str
        """
        current = self.current()
        if current is not None:
            self.actions.set_note(current[1], text)

    def undo(self) -> None:
        """Undo the last write; the candidate it changed is shown."""
        self.actions.undo()

    def redo(self) -> None:
        """Redo the last undone write; the candidate it changed is shown."""
        self.actions.redo()

    def _written(self, cid: str, row: int, what: str) -> None:
        if row >= 0:
            if what in ("undo", "redo") and row != self.nav.current:
                self.show_row(row)
            self.events.candidate_changed.emit(row)
        self.events.notice.emit(f"saved {what.split(':')[0]} of {cid}")
        self._counts_changed()
        self.events.saved.emit(cid, what)

    def _counts_changed(self) -> None:
        self.events.counts_changed.emit(self.actions.counts())
        self.events.undo_changed.emit(self.actions.can_undo, self.actions.can_redo)

    # -- SDSS ------------------------------------------------------------------------------------
    def fetch_sdss(self, offline: bool = False) -> None:
        """Fetch the spectrum and cutouts of the candidate on show from SDSS (through the cache).

        Parameters
        ----------
        offline : bool
            Read the on-disk cache only; misses are reported, never fetched.
        """
        current = self.current()
        if current is not None:
            self.fetch.cache_dir = self.sdss_cache
            self.fetch.one(self.opened, current[0], offline)

    def fetch_sdss_rows(self, rows: np.ndarray | None = None, offline: bool = False) -> int:
        """Fetch, in the background, the spectra and cutouts of ``rows`` (None: the whole list).

        Candidates that have both already are skipped, so running it again after a cancel resumes;
        each one is shown as it arrives.

        Parameters
        ----------
        rows : ndarray of int or None
            Source rows (the selection).
        offline : bool
            Read the on-disk cache only.

        Returns
        -------
        int
            Candidates to fetch (0 when there is no list or nothing is missing).
        """
        if self.source is None:
            self.events.error.emit("Nothing to fetch", "Open a candidate list first.")
            return 0
        if rows is not None and not len(rows):
            self.events.error.emit("Nothing to fetch", "Select candidates in the table first.")
            return 0
        self.fetch.cache_dir = self.sdss_cache
        return self.fetch.many(self.source, rows, offline)

    def _attach_fetched(self, row: int, spectrum: GridSpectrum | None, cube: np.ndarray | None) -> None:
        """A fetched spectrum and/or cube becomes the candidate's own; its valid fraction comes with it."""
        source = self.opened
        if spectrum is not None:
            source.extra_spectra[row] = (spectrum.flux, spectrum.ivar)
            self.quality.set_meta(row, spectrum.meta)
        if cube is not None:
            source.extra_cubes[row] = cube
        self.scoring.details.forget(row, balmer=spectrum is not None)
        self.events.data_changed.emit(row)
        if row == self.nav.current:
            self.events.candidate_changed.emit(row)
        self.scoring.score_rows([row])  # with a model chosen, scored once both parts are in

    # -- export ----------------------------------------------------------------------------------
    def export_inputs(self) -> dict[str, Any]:
        """What :func:`bhb_viewer.core.exports.export.export_catalog` needs: catalog, session, scores, model,
        checkpoint and the classical diagnostics the catalog does not carry.

        Returns
        -------
        dict
            Keys catalog, session, scores, model, checkpoint, extra_columns; empty before a list is open.
        """
        if self.source is None or self.session is None:
            return {}
        return {
            "catalog": self.source.catalog,
            "session": self.session,
            "scores": self.scoring.model.scores(),
            "model": self.scoring.model.ref,
            "checkpoint": self.scoring.model.checkpoint,
            "extra_columns": {**self.scoring.classical.export_columns(self.source.catalog.colnames),
                              **self.quality.export_columns(), **self.scoring.model.modality_columns()},
        }
