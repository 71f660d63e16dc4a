"""One review: a candidate list, its verdict session, the candidate on show, and what a person can do.

:class:`Review` is the whole state of the review window without the window. It composes small
parts, each with one job: :class:`~bhb_viewer.review.rows.CandidateRows` (columns, filter, sort,
the decision cut), :class:`~bhb_viewer.review.navigation.Navigator` (the candidate on show and
the moves), :class:`~bhb_viewer.review.actions.VerdictActions` (writes, undo, redo, counts),
:class:`~bhb_viewer.review.scores.ActiveModel` (the checkpoint and its scores) and
:class:`~bhb_viewer.review.details.Classical` / :class:`~bhb_viewer.review.details.DetailCache`.
Slow work runs as :mod:`bhb_viewer.review.tasks` jobs on the runner it is given; what changed is
told through the plain callbacks of :class:`ReviewEvents`, to which a view subscribes.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core import grid
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.verdicts import CandidateState, Session, VerdictKind, model_call
from bhb_viewer.review.actions import VerdictActions
from bhb_viewer.review.candidate_source import (
    DEMO_DATASET,
    DEMO_MODEL,
    CandidateSource,
    cube_from_band_files,
    find_resource,
    read_cutout,
)
from bhb_viewer.review.details import Classical, DetailCache
from bhb_viewer.review.events import Event
from bhb_viewer.review.filters import Filter, SortOrder
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.opening import classify_files, open_session, session_target
from bhb_viewer.review.recent import RecentFiles
from bhb_viewer.review.rows import CandidateRows
from bhb_viewer.review.runner import Runner
from bhb_viewer.review.scores import ActiveModel
from bhb_viewer.review.tasks import (
    ClassicalBatch,
    Detail,
    Loaded,
    ModelInfo,
    ScoreBatch,
    classical_task,
    detail_task,
    load_task,
    score_task,
    sdss_task,
)

log = logging.getLogger(__name__)

__all__ = ["Candidate", "Review", "ReviewEvents"]


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
        The active model's P(BHB); NaN when not scored.
    state : CandidateState or None
        The verdict and note in force, None when never touched.
    disagrees : bool
        The verdict contradicts the model's call at the cut.
    """

    row: int
    cid: str
    p_bhb: float
    state: CandidateState | None
    disagrees: bool


class ReviewEvents:
    """The callbacks a view of a :class:`Review` subscribes to (each an :class:`Event`).

    Attributes
    ----------
    opened : Event
        ``(source, references)``: a list opened; references is (mean BHB, mean non-BHB flux) or None.
    candidate_changed : Event
        ``(row)``: the score or the verdict of source ``row`` changed (refresh it if on show).
    data_changed : Event
        ``(row)``: the spectrum or cutouts of ``row`` changed (redraw it if on show).
    detail_ready : Event
        ``(row)``: a Balmer fit or explanation of ``row`` arrived.
    saved : Event
        ``(cid, what)``: a write landed in the session ('verdict:bhb', 'note', 'undo', 'redo').
    counts_changed : Event
        ``(Counts)``.
    undo_changed : Event
        ``(can_undo, can_redo)``.
    filter_changed : Event
        ``(Filter)``: the review changed the filter itself (cleared it to show a candidate).
    model_status : Event
        ``(text)``: what the model is doing ('model X: loading', 'nothing to score').
    model_ready : Event
        ``(ModelInfo)``: the model loaded; scoring proper begins.
    notice, working : Event
        ``(text)``: a line for the status bar; the background work under way ('' when none).
    progress : Event
        ``(ProgressEvent)`` of the background work.
    error : Event
        ``(title, text)``: something failed; the review goes on.
    work_done : Event
        A piece of background work ended (a view may check whether the runner is idle).
    """

    def __init__(self) -> None:
        for name in ("opened", "candidate_changed", "data_changed", "detail_ready", "saved", "counts_changed",
                     "undo_changed", "filter_changed", "model_status", "model_ready", "notice", "working",
                     "progress", "error", "work_done"):
            setattr(self, name, Event(name))

    opened: Event
    candidate_changed: Event
    data_changed: Event
    detail_ready: Event
    saved: Event
    counts_changed: Event
    undo_changed: Event
    filter_changed: Event
    model_status: Event
    model_ready: Event
    notice: Event
    working: Event
    progress: Event
    error: Event
    work_done: Event


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

    Attributes
    ----------
    rows : CandidateRows
    nav : Navigator
    actions : VerdictActions
    active_model : ActiveModel
    classical : Classical
    details : DetailCache
    recent : RecentFiles
    events : ReviewEvents
    wavelength : ndarray
        Å of every pixel of the spectra's grid.
    auto_advance : bool
        Go to the next candidate after a verdict.
    """

    def __init__(self, data_dir: Path, runner: Runner, reviewer: str | None = None, device: str = "auto") -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.runner = runner
        self.reviewer = reviewer or getpass.getuser() or "reviewer"
        self.source: CandidateSource | None = None
        self.rows = CandidateRows()
        self.nav = Navigator(self.rows)
        self.actions = VerdictActions(self.rows)
        self.active_model = ActiveModel(self.rows, device)
        self.classical = Classical()
        self.details = DetailCache()
        self.recent = RecentFiles(self.data_dir)
        self.events = ReviewEvents()
        self.auto_advance = True
        self.score_batch_size = 64
        self.sdss_cache: Path | None = None  # None: the SDSS service's default cache
        self.wavelength = grid.wavelength()
        self._sdss: Any = None  # SDSSService, made on the first fetch
        self.actions.changed.connect(self._written)
        self.actions.failed.connect(self.events.error.emit)

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
        return Candidate(row, cid, self.score(row), self.actions.states.get(cid), self.rows.disagrees(row))

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

    def cube(self, row: int) -> np.ndarray | None:
        """The 5×S×S u,g,r,i,z cutouts of source ``row``, or None."""
        return self.source.cube(row) if self.source is not None else None

    def overlays(self, row: int) -> tuple[Any, Any]:
        """The Balmer fit and the model's explanation of ``row`` known so far (None where not yet).

        Returns
        -------
        tuple
            (balmer measurement or None, explanation or None).
        """
        return self.details.balmer.get(row), self.details.explain.get(row)

    # -- opening -----------------------------------------------------------------------------
    def open_demo(self, model_dir: Path | None = None) -> None:
        """Open the built-in demo set, scored by the shipped model (or by ``model_dir``).

        Parameters
        ----------
        model_dir : Path or None
            A checkpoint to score with instead of the shipped one.
        """
        try:
            dataset = find_resource(DEMO_DATASET)
        except BadInputError as exc:
            self.events.error.emit("The demo is not installed", str(exc))
            self.events.work_done.emit()
            return
        if model_dir is None:
            try:
                model_dir = find_resource(DEMO_MODEL)
            except BadInputError as exc:
                self.events.error.emit("The demo model is not installed: the demo opens unscored", str(exc))
        self.open_path(dataset, model_dir)

    def open_path(self, path: Path, model_dir: Path | None = None) -> None:
        """Open a catalog, data set, spectrum file or session (.sqlite) in the background.

        Parameters
        ----------
        path : Path
            What to open; a session reopens its list (and, unless ``model_dir`` is given, its model).
        model_dir : Path or None
            A checkpoint to score the list with.
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
            session_path, path, model_dir = target.session, target.candidates, model_dir or target.model_dir
        self.events.working.emit(f"opening {path.name}…")
        self.runner.submit("load", load_task(path),
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
            self.events.error.emit("Cannot open the session file", str(exc))
            return
        if opened.warning is not None:
            self.events.error.emit(*opened.warning)
        for kind in ("score", "classical", "detail"):
            self.runner.cancel(kind)
        if self.session is not None:
            self.session.close()
        self.source = source
        self.details.clear()
        self.classical.clear(len(source))
        self.rows.set_catalog(source.catalog)
        self.actions.attach(opened.session, source.ids)
        batch = Classical.from_catalog(source.catalog)
        if batch is not None:
            self._on_classical(batch)
        self.recent.add(opened.session.path)
        self.events.opened.emit(source, loaded.references)
        self.nav.set_current(0 if len(source) else -1, force=True)
        self._counts_changed()
        session = opened.session
        reviewed_with = Path(session.model.checkpoint) if session.model and session.model.checkpoint else None
        no_model_yet = model_dir is None and self.active_model.holder is None
        if no_model_yet and reviewed_with is not None and reviewed_with.is_dir():
            model_dir = reviewed_with  # the model this session was reviewed with
        if model_dir is not None:
            self.set_model(model_dir, start=False)
        if not self.start_scoring():
            self._start_classical()

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
        self.details.forget(row)
        self.events.data_changed.emit(row)
        self.events.notice.emit(f"cutouts from {what} shown for {cid}")
        return True

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
    def record_verdict(self, kind: VerdictKind) -> None:
        """Record ``kind`` for the candidate on show (durably), then go to the next if auto-advancing.

        Parameters
        ----------
        kind : VerdictKind
        """
        current = self.current()
        if current is None:
            return
        self.actions.set_verdict(current[1], kind)
        if self.auto_advance:
            self.navigate("next")

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

    # -- the model and its scores ----------------------------------------------------------------
    def set_model(self, model_dir: Path, start: bool = True) -> None:
        """Score with the checkpoint in ``model_dir`` (loaded in the background); old scores go.

        Parameters
        ----------
        model_dir : Path
        start : bool
            Start scoring the list now.
        """
        self.active_model.use(Path(model_dir))
        self.details.clear(explanations_only=True)
        self.events.model_status.emit(f"model {Path(model_dir).name}: loading")
        if start:
            self.start_scoring()

    def start_scoring(self) -> bool:
        """Score every candidate (cached scores first); a running scoring is cancelled, this one queued.

        Returns
        -------
        bool
            Whether scoring was started.
        """
        source, holder = self.source, self.active_model.holder
        if source is None or holder is None:
            return False
        if not source.scorable:
            self.events.model_status.emit("no spectra + cutouts: nothing to score")
            return False
        job = score_task(holder, source, self.session, np.arange(len(source)), self.score_batch_size)
        self.runner.submit("score", job, on_batch=self._on_score, on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("Scoring failed", msg),
                           on_done=self._score_done)
        return True

    def score_all(self) -> None:
        """Model → Score all: score, or say why the list cannot be scored."""
        if self.source is None:
            return
        if self.active_model.holder is None:
            self.events.error.emit("No model", "Choose a model checkpoint first (Model → Choose model…).")
        elif not self.source.scorable:
            self.events.error.emit("Nothing to score", "The model needs each candidate's spectrum and cutouts; "
                                   "this list has no arrays (fetch them from SDSS, or open a data set).")
        else:
            self.start_scoring()

    def cancel_work(self) -> None:
        """Cancel scoring, the classical fits and opening."""
        for kind in ("score", "classical", "load"):
            self.runner.cancel(kind)

    def _on_score(self, item: ModelInfo | ScoreBatch) -> None:
        if isinstance(item, ModelInfo):
            self.active_model.info = item
            if self.session is not None:
                self.session.set_model(item.ref)
            self.events.model_ready.emit(item)
            return
        self.rows.set_scores(item.rows, item.p_bhb)
        if item.cached:
            self.events.notice.emit(f"{len(item.rows)} scores of this model version from the session")
        if self.nav.current >= 0 and np.any(item.rows == self.nav.current):
            self.events.candidate_changed.emit(self.nav.current)
        self._counts_changed()

    def _score_done(self, completed: bool) -> None:
        if completed:
            self.rows.refilter()
            self.nav.reselect()
        if not self.runner.is_running("score"):
            self._start_classical()
        self.events.work_done.emit()

    # -- classical diagnostics and per-candidate details ---------------------------------------
    def _start_classical(self) -> None:
        """Balmer-line fits of the whole list; after scoring, so the two never compete for the CPU."""
        if self.source is not None and self.source.spectra is not None and not self.classical.known:
            self.runner.submit("classical", classical_task(self.source), on_batch=self._on_classical,
                               on_progress=self.events.progress.emit)

    def _on_classical(self, batch: ClassicalBatch) -> None:
        self.rows.set_classical(batch.rows, self.classical.add(batch))

    def request_details(self, row: int) -> None:
        """Compute, in the background, the Balmer fit and explanation of ``row`` not cached yet.

        Parameters
        ----------
        row : int
            Source row (the candidate on show).
        """
        if self.source is None:
            return
        has_spectrum = self.source.spectrum(row) is not None
        holder = self.active_model.holder
        need_balmer = has_spectrum and row not in self.details.balmer
        need_explain = (holder is not None and has_spectrum and self.source.cube(row) is not None
                        and row not in self.details.explain)
        if need_balmer or need_explain:
            self.runner.submit("detail", detail_task(row, self.source, holder, need_balmer, need_explain),
                               on_batch=self._on_detail)

    def _on_detail(self, detail: Detail) -> None:
        self.details.put(detail)
        self.events.detail_ready.emit(detail.row)

    # -- SDSS ------------------------------------------------------------------------------------
    def fetch_sdss(self, offline: bool = False) -> None:
        """Fetch the spectrum and cutouts of the candidate on show from SDSS (through the cache).

        Parameters
        ----------
        offline : bool
            Read the on-disk cache only; misses are reported, never fetched.
        """
        current = self.current()
        if current is None:
            return
        from bhb_viewer.services.sdss import SDSSService

        if self._sdss is None or self._sdss.offline != offline:
            self._sdss = SDSSService(self.sdss_cache, offline=offline)
        row = current[0]
        self.runner.submit("sdss", sdss_task(self._sdss, row, self.opened.catalog[row]), on_batch=self._on_sdss,
                           on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("SDSS", msg))

    def _on_sdss(self, detail: Detail) -> None:
        if detail.kind == "spectrum":
            self.opened.extra_spectra[detail.row] = detail.value
        else:
            self.opened.extra_cubes[detail.row] = detail.value
        self.details.forget(detail.row, balmer=detail.kind == "spectrum")
        self.events.data_changed.emit(detail.row)

    # -- export ----------------------------------------------------------------------------------
    def export_inputs(self) -> dict[str, Any]:
        """What :func:`bhb_viewer.core.export.export_catalog` needs: catalog, session, scores, model,
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
            "scores": self.active_model.scores(),
            "model": self.active_model.ref,
            "checkpoint": self.active_model.checkpoint,
            "extra_columns": self.classical.export_columns(self.source.catalog.colnames),
        }
