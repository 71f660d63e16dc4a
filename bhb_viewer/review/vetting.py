"""What a person records about the candidate on show: a verdict, the model's call, a note, undo, redo.

:class:`~bhb_viewer.review.actions.VerdictActions` writes a candidate's verdict by id; this part
adds the review's rules around it: the candidate on show, blind or not by the
:class:`~bhb_viewer.review.mode.ReviewMode`, the model's call at the cut (never while the scores are
hidden), auto-advance after a verdict that was saved, and the events every write is told by.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bhb_viewer.core.sessions.verdicts import VerdictKind, model_call
from bhb_viewer.review.actions import VerdictActions
from bhb_viewer.review.events import ReviewEvents
from bhb_viewer.review.mode import ReviewMode
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.rows import CandidateRows

__all__ = ["Vetting"]


class Vetting:
    """Record verdicts and notes for the candidate on show, with undo and redo.

    Parameters
    ----------
    actions : VerdictActions
        Writes through the session.
    rows, nav : CandidateRows, Navigator
        The list (its scores and cut) and the candidate on show.
    mode : ReviewMode
        Whether a verdict is blind, and where auto-advance goes.
    events : ReviewEvents
        Where writes, counts and the undo state are told.
    current : callable
        ``() -> (row, cid) or None``: the candidate on show of an open list.
    show_row : callable
        ``(row)``: show a source row (clearing a filter that hides it), for undo and redo.
    """

    def __init__(self, actions: VerdictActions, rows: CandidateRows, nav: Navigator, mode: ReviewMode,
                 events: ReviewEvents, current: Callable[[], tuple[int, str] | None],
                 show_row: Callable[[int], None]) -> None:
        self.actions, self.rows, self.nav, self.mode, self.events = actions, rows, nav, mode, events
        self._current, self._show_row = current, show_row
        actions.changed.connect(self._written)
        actions.failed.connect(events.error.emit)

    def record_verdict(self, kind: VerdictKind) -> None:
        """Record ``kind`` for the candidate on show (durably), then move on if auto-advancing."""
        current = self._current()
        if current is None:
            return
        self.actions.set_verdict(current[1], kind, blind=self.mode.blind)
        if self.mode.auto_advance and not self.actions.last_failed:  # an unsaved verdict keeps its star on show
            self.nav.move(self.mode.advance_move)

    def accept_model_call(self) -> None:
        """Record the model's call at the cut for the candidate on show (nothing if it is unscored or
        the scores are hidden: the call would tell the person the score)."""
        current = self._current()
        if current is None or self.mode.scores_hidden:
            return
        p = float(self.rows.column("p")[current[0]])
        if np.isfinite(p):
            self.record_verdict(model_call(p, self.rows.cut))

    def record_note(self, text: str) -> None:
        """Record ``text`` as the note of the candidate on show ('' clears it)."""
        current = self._current()
        if current is not None:
            self.actions.set_note(current[1], text)

    def undo(self) -> None:
        """Undo the last write; the candidate it changed is shown."""
        self.actions.undo()

    def redo(self) -> None:
        """Redo the last undone write; the candidate it changed is shown."""
        self.actions.redo()

    def counts_changed(self) -> None:
        """Tell the counts and whether undo and redo can run (after a write, new scores, a new list)."""
        self.events.counts_changed.emit(self.actions.counts())
        self.events.undo_changed.emit(self.actions.can_undo, self.actions.can_redo)

    def _written(self, cid: str, row: int, what: str) -> None:
        if row >= 0:
            if what in ("undo", "redo") and row != self.nav.current:
                self._show_row(row)
            self.events.candidate_changed.emit(row)
        self.events.notice.emit(f"saved {what.split(':')[0]} of {cid}")
        self.counts_changed()
        self.events.saved.emit(cid, what)
