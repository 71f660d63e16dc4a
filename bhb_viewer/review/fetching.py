"""SDSS in the review: the spectrum and cutouts of the candidate on show, or of many at once.

Both run on the review's runner through the SDSS service's on-disk cache: the single fetch as
:func:`~bhb_viewer.review.tasks.sdss_task`, the batch as :class:`bhb_viewer.services.batch_fetch.BatchFetch`
(the whole list or the person's selection, a few candidates at a time, cancel between
candidates). Every result is handed to ``attach`` as it arrives, so the table and the plots
fill while the job runs. Running a batch again resumes it: rows that already have both parts are
skipped and what the cancelled run downloaded comes from the cache without a request.

A fresh service is made per fetch, so a network that was down at the last try is probed again.
No-network messages name the app's control (SDSS → Offline), never the CLI's ``--offline``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bhb_viewer.review.candidate_source import CandidateSource
from bhb_viewer.review.events import ReviewEvents
from bhb_viewer.review.jobs import FETCH_JOBS, JobKind
from bhb_viewer.review.runner import Runner
from bhb_viewer.review.tasks import Detail, sdss_task

if TYPE_CHECKING:
    from bhb_viewer.core.readers.spectra import GridSpectrum
    from bhb_viewer.services.batch_fetch import BatchSummary, FetchedItem
    from bhb_viewer.services.sdss import SDSSService

log = logging.getLogger(__name__)

__all__ = ["FAILURES_SHOWN", "SDSSFetch"]

FAILURES_SHOWN = 8  # candidates whose problems the end-of-batch message lists

Attach = Callable[[int, "GridSpectrum | None", "np.ndarray | None"], None]


class SDSSFetch:
    """Fetch spectra and cutouts from SDSS for a review and hand them to ``attach`` as they arrive.

    Parameters
    ----------
    runner : Runner
        Runs the jobs.
    events : ReviewEvents
        Progress, notices and errors are reported here.
    attach : callable
        ``attach(row, spectrum, cube)``: a candidate's fetched spectrum (GridSpectrum or None)
        and cube (5×S×S or None).

    Attributes
    ----------
    cache_dir : Path or None
        The SDSS cache (None: the service's default).
    last_summary : BatchSummary or None
        How the last batch ended.
    workers : int
        Candidates a batch fetches at once.
    """

    def __init__(self, runner: Runner, events: ReviewEvents, attach: Attach) -> None:
        self.runner, self.events, self.attach = runner, events, attach
        self.cache_dir: Path | None = None
        self.last_summary: BatchSummary | None = None
        self.workers = 4
        self._source: CandidateSource | None = None

    def service(self, offline: bool) -> SDSSService:
        """A new SDSS service on the cache, its no-network advice naming SDSS → Offline.

        Parameters
        ----------
        offline : bool
            Read the cache only.

        Returns
        -------
        SDSSService
        """
        from bhb_viewer.services.batch_fetch import APP_OFFLINE_HINT
        from bhb_viewer.services.sdss import SDSSService

        return SDSSService(self.cache_dir, offline=offline, offline_hint=APP_OFFLINE_HINT)

    def one(self, source: CandidateSource, row: int, offline: bool) -> None:
        """Fetch the spectrum and cutouts of source ``row`` (each part shown as it arrives).

        Parameters
        ----------
        source : CandidateSource
        row : int
        offline : bool
        """
        self._source = source
        self.runner.submit(JobKind.FETCH, sdss_task(self.service(offline), row, source.catalog[row]),
                           on_batch=lambda detail: self._on_detail(source, detail),
                           on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("SDSS", msg))

    def many(self, source: CandidateSource, rows: Iterable[int] | None, offline: bool) -> int:
        """Fetch, in the background, every candidate of ``rows`` (None: the whole list) that lacks a part.

        Parameters
        ----------
        source : CandidateSource
        rows : iterable of int or None
            Source rows, in the order to fetch them.
        offline : bool
            Read the cache only (misses are listed at the end, nothing is fetched).

        Returns
        -------
        int
            How many candidates are to be fetched (0: all of them have a spectrum and cutouts already).
        """
        from bhb_viewer.services.batch_fetch import BatchFetch

        wanted = np.arange(len(source)) if rows is None else np.asarray(list(rows), dtype=np.int64)
        have = [int(r) for r in wanted if source.spectrum(int(r)) is not None and source.cube(int(r)) is not None]
        job = BatchFetch(self.service(offline), source.catalog, wanted, skip=have, workers=self.workers)
        if not job.rows:
            self.events.notice.emit(f"SDSS: all {len(wanted)} candidates have a spectrum and cutouts already")
            return 0
        self._source = source
        self.events.working.emit(f"SDSS: fetching {len(job.rows)} candidates…")
        self.runner.submit(JobKind.FETCH_BATCH, job, on_batch=lambda item: self._on_item(source, item),
                           on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("The SDSS fetch stopped", msg),
                           on_done=self._batch_done)
        return len(job.rows)

    def cancel(self) -> None:
        """Stop both kinds of fetch; what arrived stays attached and cached."""
        for kind in FETCH_JOBS:
            self.runner.cancel(kind)

    def forget(self) -> None:
        """A new list opened: the running fetches stop and their late results are dropped."""
        self.cancel()
        self._source = None

    # -- results -------------------------------------------------------------------------------
    def _on_detail(self, source: CandidateSource, detail: Detail) -> None:
        if source is not self._source:
            return
        if detail.kind == "problems":
            self.events.error.emit("SDSS", detail.value)
        elif detail.kind == "spectrum":
            self.attach(detail.row, detail.value, None)
        else:
            self.attach(detail.row, None, detail.value)

    def _on_item(self, source: CandidateSource, item: FetchedItem | BatchSummary) -> None:
        from bhb_viewer.services.batch_fetch import BatchSummary

        if source is not self._source:
            return
        if isinstance(item, BatchSummary):
            self._summarise(item)
        elif item.spectrum is not None or item.cube is not None:
            self.attach(item.row, item.spectrum, item.cube)

    def _summarise(self, summary: BatchSummary) -> None:
        """The end of a batch: a line in the status bar, a dialog when it stopped early or some failed."""
        self.last_summary = summary
        self.events.notice.emit(summary.message)
        if summary.stopped:
            self.events.error.emit("The SDSS fetch stopped", summary.message)
        elif summary.failed:
            lines = [f"{cid}: {problems}" for cid, problems in summary.failed[:FAILURES_SHOWN]]
            more = len(summary.failed) - FAILURES_SHOWN
            if more > 0:
                lines.append(f"… and {more} more")
            self.events.error.emit(f"SDSS: {len(summary.failed)} candidates incomplete",
                                   "\n".join([summary.message, *lines]))

    def _batch_done(self, completed: bool) -> None:
        if not completed:
            self.events.notice.emit("SDSS fetch cancelled: fetch again to resume (what arrived is cached)")
        self.events.working.emit("")
        self.events.work_done.emit()
