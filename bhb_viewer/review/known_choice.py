"""Choosing the user's catalogue of known stars in a review, and matching the open list against it.

The file and the match are :mod:`bhb_viewer.review.known_catalogue`'s; this part runs the read and
the match as a background job, keeps the setting only for a file that can be used, and gives the
open list its new ``known_as`` column.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from bhb_viewer.review.candidate_source import CandidateSource
from bhb_viewer.review.events import ReviewEvents
from bhb_viewer.review.jobs import JobKind
from bhb_viewer.review.known_catalogue import KnownCatalogueSetting, KnownMatch
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.rows import CandidateRows
from bhb_viewer.review.runner import Runner
from bhb_viewer.review.tasks import known_task

__all__ = ["KnownCatalogueChoice"]


class KnownCatalogueChoice:
    """The user's catalogue of known stars for a review.

    Parameters
    ----------
    setting : KnownCatalogueSetting
        Where the choice is kept (the data folder).
    runner : Runner
    events : ReviewEvents
    rows, nav : CandidateRows, Navigator
        The open list's columns and the candidate on show.
    source : callable
        ``() -> CandidateSource or None``: the list open now.

    Attributes
    ----------
    base : tuple of (ndarray, ndarray) or None
        The open list's ``known_as`` and separations before the user's catalogue (set as it opens).
    """

    def __init__(self, setting: KnownCatalogueSetting, runner: Runner, events: ReviewEvents, rows: CandidateRows,
                 nav: Navigator, source: Callable[[], CandidateSource | None]) -> None:
        self.setting, self.runner, self.events, self.rows, self.nav = setting, runner, events, rows, nav
        self._source = source
        self.base: tuple[np.ndarray, np.ndarray] | None = None

    def use(self, path: Path | None) -> None:
        """Use ``path`` as the user's catalogue (None: the shipped catalogues only).

        The file is read and the open list matched against it in the background; the setting is kept
        only when the file can be used, else an error event says what is wrong.

        Parameters
        ----------
        path : Path or None
            A table with ra and dec (and optionally ``known_as`` labels), as ``bhb score --known`` reads.
        """
        source = self._source()
        catalog = None if source is None or self.base is None else source.catalog
        self.events.working.emit("reading the catalogue of known stars…")
        self.runner.submit(JobKind.KNOWN, known_task(path, catalog, self.base),
                           on_batch=lambda match: self._matched(path, source, match),
                           on_progress=self.events.progress.emit,
                           on_error=lambda msg: self.events.error.emit("Cannot use that catalogue of known stars", msg),
                           on_done=self._done)

    def _done(self, completed: bool) -> None:
        self.events.working.emit("")
        self.events.work_done.emit()

    def _matched(self, path: Path | None, source: CandidateSource | None, match: KnownMatch | None) -> None:
        try:
            self.setting.set(path)
        except OSError as exc:
            self.events.error.emit("Cannot keep the catalogue of known stars",
                                   f"{exc}; it is used for the open list only.")
        if match is None or source is None or source is not self._source():
            return  # no list, or another list opened meanwhile (matched when it loaded)
        source.catalog["known_as"], source.catalog["known_sep_arcsec"] = match.known_as, match.sep
        self.rows.set_known(match.known_as, match.sep)
        if self.nav.current >= 0:
            self.events.candidate_changed.emit(self.nav.current)
        n = int(np.count_nonzero(match.known_as != ""))
        self.events.notice.emit(f"known stars: {n} of {len(source)} candidates in a catalogue")
