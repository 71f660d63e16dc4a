"""Plain callbacks a view subscribes to: the review's answer to Qt signals, without Qt.

The review state is driven from the GUI thread (or a test, or a script); it tells whoever shows it
what changed by calling the functions connected to an :class:`Event`. A failing subscriber is
logged and skipped, so one broken view cannot stop the others or the review.

Why not psygnal (napari's signals, considered in issue 23): the review needs only connect, emit in
order and log-and-skip a failing subscriber, on one thread. These few lines do that with no
dependency; psygnal would add a compiled wheel to every install for signature checks and
thread hopping the review does not use. Switch if the review ever emits from worker threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Event", "ReviewEvents"]


class Event:
    """A list of callbacks called in the order they were connected.

    Parameters
    ----------
    name : str
        What the event says, for log messages.
    """

    def __init__(self, name: str = "event") -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback(*args)`` on every :meth:`emit`.

        Parameters
        ----------
        callback : callable
            Receives the arguments given to :meth:`emit`.

        Returns
        -------
        callable
            ``callback`` itself, so the method can be used as a decorator.
        """
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback`` (no error if it was not connected)."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        """Call every connected callback with ``args``."""
        for callback in list(self._callbacks):
            try:
                callback(*args)
            except Exception:  # a view's bug must not break the review or the other views
                log.exception("a subscriber of %s failed", self.name)


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
    scores_changed : Event
        Scores arrived (the counts of agreement change with them).
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
        self.opened = Event("opened")
        self.candidate_changed = Event("candidate_changed")
        self.data_changed = Event("data_changed")
        self.detail_ready = Event("detail_ready")
        self.saved = Event("saved")
        self.counts_changed = Event("counts_changed")
        self.scores_changed = Event("scores_changed")
        self.undo_changed = Event("undo_changed")
        self.filter_changed = Event("filter_changed")
        self.model_status = Event("model_status")
        self.model_ready = Event("model_ready")
        self.notice = Event("notice")
        self.working = Event("working")
        self.progress = Event("progress")
        self.error = Event("error")
        self.work_done = Event("work_done")
