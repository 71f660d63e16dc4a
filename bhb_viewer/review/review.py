"""One review: a candidate list, its verdict session, the candidate on show, and what a person can do.

:class:`Review` is the whole state of the review window without the window. It composes small
parts, each with one job: :class:`~bhb_viewer.review.rows.CandidateRows` (columns, filter, sort,
the decision cut), :class:`~bhb_viewer.review.navigation.Navigator` (the candidate on show and
the moves), :class:`~bhb_viewer.review.actions.VerdictActions` (writes, undo, redo, counts) and
:class:`~bhb_viewer.review.scoring.Scoring` (the active model, its scores, classical fits, details).
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
from typing import Any

import numpy as np

from bhb_viewer.core import grid
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.model_index import ModelIndex
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
from bhb_viewer.review.events import ReviewEvents
from bhb_viewer.review.filters import Filter, SortOrder
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.opening import classify_files, open_session, session_target
from bhb_viewer.review.recent import RecentFiles
from bhb_viewer.review.rows import CandidateRows
from bhb_viewer.review.runner import Runner
from bhb_viewer.review.scoring import Scoring
from bhb_viewer.review.tasks import Detail, Loaded, load_task, sdss_task

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
    scoring : Scoring
        The active model, its scores, classical fits and per-candidate details.
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
        self.recent = RecentFiles(self.data_dir)
        self.events = ReviewEvents()
        self.scoring = Scoring(self.rows, self.nav, runner, self.events, device)
        self.auto_advance = True
        self.sdss_cache: Path | None = None  # None: the SDSS service's default cache
        self.wavelength = grid.wavelength()
        self._sdss: Any = None  # SDSSService, made on the first fetch
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
        if self.session is not None:
            self.session.close()
        self.source = source
        self.rows.set_catalog(source.catalog)
        self.scoring.bind(source, opened.session)
        self.actions.attach(opened.session, source.ids)
        self.recent.add(opened.session.path)
        self.events.opened.emit(source, loaded.references)
        self.nav.set_current(0 if len(source) else -1, force=True)
        self._counts_changed()
        session = opened.session
        reviewed_with = Path(session.model.checkpoint) if session.model and session.model.checkpoint else None
        no_model_yet = model_dir is None and self.scoring.model.holder is None
        if no_model_yet and reviewed_with is not None and reviewed_with.is_dir():
            model_dir = reviewed_with  # the model this session was reviewed with
        elif no_model_yet and (active := ModelIndex(self.data_dir).active()) is not None and active.kind == "network":
            model_dir = Path(active.path)  # the model last made active (Models menu, training wizard)
        if model_dir is not None:
            self.scoring.set_model(model_dir, start=False)
        if not self.scoring.start():
            self.scoring.start_classical()

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

    def cancel_work(self) -> None:
        """Cancel opening, scoring and the classical fits."""
        for kind in ("score", "classical", "load"):
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
        self.scoring.details.forget(detail.row, balmer=detail.kind == "spectrum")
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
            "scores": self.scoring.model.scores(),
            "model": self.scoring.model.ref,
            "checkpoint": self.scoring.model.checkpoint,
            "extra_columns": self.scoring.classical.export_columns(self.source.catalog.colnames),
        }
