"""The model's side of a review: which checkpoint scores the list, the scoring job, the classical
Balmer-line fits, and the per-candidate Balmer fit and explanation of the star on show.

:class:`Scoring` runs these as background jobs on the review's runner and writes their results
into the list's columns and caches. Swapping the model (a new checkpoint, a training run just
finished) is :meth:`Scoring.set_model`: the old scores go and the list is scored again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core.science.trust import TrainingSky
from bhb_viewer.core.sessions.verdicts import Session
from bhb_viewer.review.candidate_source import CandidateSource
from bhb_viewer.review.details import Classical, DetailCache
from bhb_viewer.review.events import ReviewEvents
from bhb_viewer.review.jobs import SCORING_JOBS, JobKind
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.rows import CandidateRows
from bhb_viewer.review.runner import Runner
from bhb_viewer.review.scores import ActiveModel
from bhb_viewer.review.tasks import (
    ClassicalBatch,
    Detail,
    ModelInfo,
    ScoreBatch,
    classical_task,
    detail_task,
    score_task,
)

log = logging.getLogger(__name__)

__all__ = ["Scoring"]



class Scoring:
    """Score the open list with the model in use; classical fits; per-candidate details.

    Parameters
    ----------
    rows : CandidateRows
        The list's columns (``p`` and ``classical`` are written here).
    nav : Navigator
        The candidate on show (kept on show when scores re-sort the list).
    runner : Runner
        Runs the jobs.
    events : ReviewEvents
        Where results are announced.
    device : str
        Where the model runs: 'auto', 'cpu', 'cuda'.

    Attributes
    ----------
    model : ActiveModel
    classical : Classical
    details : DetailCache
    batch_size : int
        Candidates per forward pass.
    want_maps : bool
        Whether the view shows the saliency or the attention map: without them an explanation
        skips its backward pass (the model's own weights come at no extra cost).
    """

    def __init__(self, rows: CandidateRows, nav: Navigator, runner: Runner, events: ReviewEvents,
                 device: str = "auto") -> None:
        self.rows, self.nav, self.runner, self.events = rows, nav, runner, events
        self.model = ActiveModel(rows, device)
        self.classical = Classical()
        self.details = DetailCache()
        self.batch_size = 64
        self.want_maps = True
        self.source: CandidateSource | None = None
        self.session: Session | None = None
        self._more: set[int] = set()  # rows whose data arrived, waiting to be scored

    def bind(self, source: CandidateSource, session: Session) -> None:
        """Work on a newly opened list: running jobs stop, caches go, catalog diagnostics come in.

        Parameters
        ----------
        source : CandidateSource
        session : Session
            Caches this model version's scores.
        """
        for kind in SCORING_JOBS:
            self.runner.cancel(kind)
        self._more.clear()
        self.source, self.session = source, session
        self.details.clear()
        self.classical.clear(len(source))
        batch = Classical.from_catalog(source.catalog)
        if batch is not None:
            self._on_classical(batch)

    def set_model(self, model_dir: Path, start: bool = True) -> None:
        """Score with the checkpoint in ``model_dir`` (loaded in the background); old scores go.

        Parameters
        ----------
        model_dir : Path
        start : bool
            Start scoring the list now.
        """
        self.runner.cancel(JobKind.SCORE_MORE)
        self.model.use(Path(model_dir))
        self.details.clear(explanations_only=True)
        self.events.model_status.emit(f"model {Path(model_dir).name}: loading")
        if start:
            self.start()

    def drop_model(self) -> None:
        """Score with no model: a list opened when no checkpoint is usable shows no scores."""
        if self.model.holder is None:
            return
        self.runner.cancel(JobKind.SCORE_MORE)
        self.model.drop()
        self.details.clear(explanations_only=True)
        self.events.model_status.emit("no model")

    def start(self) -> bool:
        """Score every candidate (cached scores first), then run the classical fits.

        A running scoring is cancelled and this one queued after it.

        Returns
        -------
        bool
            Whether scoring was started (False without a list, a model, or arrays to score).
        """
        source, holder = self.source, self.model.holder
        if source is None or holder is None:
            return False
        if not source.scorable:
            fetched = sorted({*source.extra_spectra, *source.extra_cubes})
            if fetched:
                self.score_rows(fetched)
                return True
            self.events.model_status.emit("no spectra or cutouts: nothing to score")
            return False
        job = score_task(holder, source, self.session, np.arange(len(source)), self.batch_size)
        self.runner.submit(JobKind.SCORE, job, on_batch=self._on_score, on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("Scoring failed", msg),
                           on_done=self._score_done)
        return True

    def score_rows(self, rows: list[int]) -> None:
        """Score candidates whose spectrum or cutouts arrived since (fetched from SDSS).

        Rows arriving while such a job runs are scored together when it ends, so a batch fetch
        never cancels its own scoring.

        Parameters
        ----------
        rows : list of int
            Source rows; scored by what they have (see :func:`~bhb_viewer.review.tasks.score_task`).
        """
        if self.model.holder is None or self.source is None:
            return
        self._more.update(rows)
        if self._more and not self.runner.is_running(JobKind.SCORE_MORE):
            self._score_more()

    def _score_more(self) -> None:
        rows, holder = np.array(sorted(self._more), dtype=np.int64), self.model.holder
        self._more.clear()
        if self.source is None or holder is None or not len(rows):
            return
        job = score_task(holder, self.source, self.session, rows, self.batch_size, stage="score fetched",
                         use_cache=False)  # the data is new: a cached score was made without it
        self.runner.submit(JobKind.SCORE_MORE, job, on_batch=self._on_score, on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("Scoring failed", msg),
                           on_done=self._more_done)

    def _more_done(self, completed: bool) -> None:
        if self._more:
            self._score_more()
        self.events.work_done.emit()

    def score_all(self) -> None:
        """Models → Score all: score, or say why the list cannot be scored."""
        if self.source is None:
            return
        if self.model.holder is None:
            self.events.error.emit("No model", "Choose a model checkpoint first (Models menu).")
        elif not self.source.scorable:
            self.events.error.emit("Nothing to score", "The model needs candidates' spectra or cutouts; "
                                   "this list has none (fetch them from SDSS, or open a data set).")
        else:
            self.start()

    def _on_score(self, item: ModelInfo | ScoreBatch) -> None:
        if isinstance(item, ModelInfo):
            self.model.info = item
            if self.session is not None:
                self.session.set_model(item.ref)
            self.events.model_ready.emit(item)
            return
        self.rows.set_scores(item.rows, item.p_bhb)
        if item.score_from is not None:
            nan = np.full(len(item.rows), np.nan)
            p_s, p_i = (nan if p is None else p for p in (item.p_spectrum, item.p_image))
            self.rows.set_modality_scores(item.rows, p_s, p_i, item.score_from)
        if item.cached:
            self.events.notice.emit(f"{len(item.rows)} scores of this model version from the session")
        if self.nav.current >= 0 and np.any(item.rows == self.nav.current):
            self.events.candidate_changed.emit(self.nav.current)
        self.events.scores_changed.emit()

    def _score_done(self, completed: bool) -> None:
        if completed:
            self.rows.refilter()
            self.nav.reselect()
        if not self.runner.is_running(JobKind.SCORE):
            self.start_classical()
        self.events.work_done.emit()

    def start_classical(self) -> None:
        """Balmer-line fits of the whole list; after scoring, so the two never compete for the CPU."""
        if self.source is not None and self.source.spectra is not None and not self.classical.known:
            checkpoint = self.model.checkpoint
            sky = TrainingSky.load(checkpoint) if checkpoint is not None else None
            self.runner.submit(JobKind.CLASSICAL, classical_task(self.source, sky), on_batch=self._on_classical,
                               on_progress=self.events.progress.emit,
                               on_error=lambda msg: self.events.error.emit("The Balmer-line fits failed", msg))

    def _on_classical(self, batch: ClassicalBatch) -> None:
        self.rows.set_classical(batch.rows, self.classical.add(batch))
        if "flags" in batch.columns:
            self.rows.set_flags(batch.rows, batch.columns["flags"])

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
        holder = self.model.holder
        need_balmer = has_spectrum and row not in self.details.balmer
        cached = self.details.explain.get(row)
        stale = cached is None or (self.want_maps and cached.saliency is None and cached.attention_map is None)
        need_explain = holder is not None and has_spectrum and self.source.cube(row) is not None and stale
        if need_balmer or need_explain:
            job = detail_task(row, self.source, holder, need_balmer, need_explain, maps=self.want_maps)
            self.runner.submit(JobKind.DETAIL, job, on_batch=self._on_detail)

    def _on_detail(self, detail: Detail) -> None:
        self.details.put(detail)
        self.events.detail_ready.emit(detail.row)

    def overlays(self, row: int) -> tuple[Any, Any]:
        """The Balmer fit and the model's explanation of ``row`` known so far (None where not yet).

        Returns
        -------
        tuple
            (balmer measurement or None, explanation or None).
        """
        return self.details.balmer.get(row), self.details.explain.get(row)
