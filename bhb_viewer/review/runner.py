"""Who runs the review's background jobs: the protocol, and a runner that runs them at once.

The review never starts threads itself. The window hands it a Qt thread-pool runner
(:class:`bhb_viewer.gui.workers.TaskRunner`); a script or a test hands it :class:`InlineRunner`,
which runs each job to its end inside ``submit``, so a review can be driven without Qt and
without waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.progress import Cancelled, CancelToken, ProgressCallback, ProgressEvent

log = logging.getLogger(__name__)

__all__ = ["InlineRunner", "Runner", "TaskFn", "error_message", "log_failure"]

TaskFn = Callable[[CancelToken, ProgressCallback], Iterable[Any]]


def error_message(exc: BaseException) -> str:
    """What a person reads about a failure: the file and the problem, never a traceback.

    Parameters
    ----------
    exc : BaseException
        What a job raised.

    Returns
    -------
    str
    """
    if isinstance(exc, BadInputError):
        return str(exc)
    if isinstance(exc, (OSError, ValueError, KeyError, RuntimeError)):
        return f"{type(exc).__name__}: {exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


def log_failure(what: str, exc: BaseException) -> None:
    """Log a job's failure: a routine one (bad input, a disk or network fault) as one line, anything
    else (a bug) with its traceback.

    Parameters
    ----------
    what : str
        The job, for the log line.
    exc : BaseException
        What it raised.
    """
    if isinstance(exc, (BadInputError, OSError)):
        log.warning("%s failed: %s", what, error_message(exc))
    else:
        log.error("%s failed", what, exc_info=exc)


class Runner(Protocol):
    """Runs jobs by *kind*; at most one job of a kind at a time (a new one replaces the old)."""

    def submit(
        self,
        kind: str,
        fn: TaskFn,
        on_batch: Callable[[Any], None] | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_done: Callable[[bool], None] | None = None,
    ) -> Any: ...

    def cancel(self, kind: str) -> None: ...

    def is_running(self, kind: str) -> bool: ...

    def busy(self) -> bool: ...


class InlineRunner:
    """Run every job to its end inside :meth:`submit`, on the caller's thread.

    Errors are logged (see :func:`log_failure`) and reported through ``on_error`` as the window would.
    """

    def __init__(self) -> None:
        self._running: set[str] = set()

    def submit(
        self,
        kind: str,
        fn: TaskFn,
        on_batch: Callable[[Any], None] | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_done: Callable[[bool], None] | None = None,
    ) -> None:
        """Run ``fn`` now; see :class:`Runner`."""
        token = CancelToken()
        completed = False
        self._running.add(kind)
        try:
            for item in fn(token, on_progress or (lambda event: None)):
                if on_batch is not None:
                    on_batch(item)
            completed = True
        except Cancelled:
            pass
        except Exception as exc:
            log_failure(f"background job {kind!r}", exc)
            if on_error is not None:
                on_error(error_message(exc))
        finally:
            self._running.discard(kind)
        if on_done is not None:
            on_done(completed)

    def cancel(self, kind: str) -> None:
        """Nothing runs in the background, so there is nothing to cancel."""

    def is_running(self, kind: str) -> bool:
        return kind in self._running

    def busy(self) -> bool:
        return bool(self._running)
