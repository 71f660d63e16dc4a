"""Plain callbacks a view subscribes to: the review's answer to Qt signals, without Qt.

The review state is driven from the GUI thread (or a test, or a script); it tells whoever shows it
what changed by calling the functions connected to an :class:`Event`. A failing subscriber is
logged and skipped, so one broken view cannot stop the others or the review.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["Event"]


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
