"""Background work for the window: generators run on a thread pool and report through signals.

A task is a function ``fn(cancel, progress)`` returning an iterable; every item it yields
arrives on the GUI thread as one ``sigBatch``, so results fill the window as they come. Tasks
are grouped by *kind* (review.jobs.JobKind: "score", "load", "detail", ...): starting a kind that is already running
cancels the running one and queues the new one to start when the old one has stopped, so two
scorings never run at once and a stale task's late batches are dropped, never shown.
The GUI thread never waits in a ``processEvents`` loop; it only receives queued signals.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from bhb_viewer.core.progress import Cancelled, CancelToken, ProgressEvent
from bhb_viewer.review.runner import TaskFn, error_message, log_failure

log = logging.getLogger(__name__)

__all__ = ["TaskHandle", "TaskRunner", "error_message"]
PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress signals a second reach the GUI thread


class _Signals(QObject):
    """One hub per runner, living as long as it: every job emits here, tagged with its task id.

    (A QObject per task would be released from the pool thread when the job ends, racing its
    deletion on the GUI thread; a long-lived hub has no such lifetime to get wrong.)
    """

    sigBatch = Signal(int, object)
    sigProgress = Signal(int, object)
    sigError = Signal(int, str)
    sigDone = Signal(int, bool)  # True: ran to the end; False: cancelled or failed


WORKER_NICENESS = 5  # how much lower than the GUI thread a worker thread is scheduled (Linux)
_niced = threading.local()


def _yield_cpu_to_gui() -> None:
    """Lower this pool thread's scheduling priority once, so on a busy CPU the GUI thread runs first.

    Linux schedules threads individually and lets a thread's nice value be raised by its own id;
    elsewhere (and where not permitted) this does nothing. Threads the model starts inherit it.
    """
    if getattr(_niced, "done", False) or not hasattr(os, "setpriority"):
        return
    _niced.done = True
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS))
    except OSError:
        pass


class _Job:
    """The body a pool thread runs: iterate the task, emit each item, report the end.

    Handed to ``QThreadPool.start`` as a plain callable, so PySide owns the QRunnable wrapper and
    no Python object's lifetime is tied to a C++ object the pool deletes.
    """

    def __init__(self, task_id: int, fn: TaskFn, token: CancelToken, signals: _Signals) -> None:
        self._id, self._fn, self._token, self._signals = task_id, fn, token, signals
        self._last_progress = 0.0

    def _progress(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        final = event.total is not None and event.done >= event.total
        if final or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self._signals.sigProgress.emit(self._id, event)

    def __call__(self) -> None:
        _yield_cpu_to_gui()
        completed = False
        try:
            for item in self._fn(self._token, self._progress):
                if self._token.cancelled:
                    break
                self._signals.sigBatch.emit(self._id, item)
            completed = not self._token.cancelled
        except Cancelled:
            pass
        except Exception as exc:  # reported to the window, which keeps working
            log_failure(f"background task {self._id}", exc)
            self._signals.sigError.emit(self._id, error_message(exc))
        self._signals.sigDone.emit(self._id, completed)


@dataclass
class TaskHandle:
    """One submitted task: its kind, cancel token, and the callbacks that receive its signals."""

    kind: str
    fn: TaskFn
    on_batch: Callable[[Any], None] | None = None
    on_progress: Callable[[ProgressEvent], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_done: Callable[[bool], None] | None = None
    token: CancelToken = field(default_factory=CancelToken)
    running: bool = False
    finished: bool = False

    def cancel(self) -> None:
        self.token.cancel()


class TaskRunner(QObject):
    """Runs tasks by kind on a private thread pool; at most one task per kind runs at a time."""

    sigBusyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, max_threads: int = 3) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._running: dict[str, TaskHandle] = {}
        self._queued: dict[str, TaskHandle] = {}
        self._by_id: dict[int, TaskHandle] = {}
        self._next_id = 0
        # Emitted from pool threads, delivered queued on the GUI thread, where this runner lives.
        self._hub = _Signals(self)
        self._hub.sigBatch.connect(lambda tid, item: self._deliver(tid, "on_batch", item))
        self._hub.sigProgress.connect(lambda tid, event: self._deliver(tid, "on_progress", event))
        # A cancelled task's error is a consequence of the cancel (e.g. its session was closed): dropped.
        self._hub.sigError.connect(lambda tid, msg: self._deliver(tid, "on_error", msg))
        self._hub.sigDone.connect(self._finished)

    def submit(
        self,
        kind: str,
        fn: TaskFn,
        on_batch: Callable[[Any], None] | None = None,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_done: Callable[[bool], None] | None = None,
    ) -> TaskHandle:
        """Start ``fn`` now, or, if a task of this kind runs, cancel that one and start after it."""
        handle = TaskHandle(kind, fn, on_batch, on_progress, on_error, on_done)
        replaced = self._queued.pop(kind, None)
        if replaced is not None:
            replaced.finished = True
            if replaced.on_done:
                replaced.on_done(False)
        current = self._running.get(kind)
        if current is not None:
            current.cancel()
            self._queued[kind] = handle
        else:
            self._start(handle)
        return handle

    def cancel(self, kind: str) -> None:
        """Cancel the running and the queued task of ``kind``."""
        queued = self._queued.pop(kind, None)
        if queued is not None:
            queued.finished = True
            if queued.on_done:
                queued.on_done(False)
        if kind in self._running:
            self._running[kind].cancel()

    def is_running(self, kind: str) -> bool:
        return kind in self._running or kind in self._queued

    def busy(self) -> bool:
        """True while any task runs or waits to run."""
        return bool(self._running or self._queued)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything and wait for the threads (at window close); True if all stopped."""
        for kind in list(self._queued):
            self.cancel(kind)
        for handle in self._running.values():
            handle.cancel()
        return self._pool.waitForDone(timeout_ms)

    def _start(self, handle: TaskHandle) -> None:
        self._next_id += 1
        self._by_id[self._next_id] = handle
        was_busy = self.busy()
        self._running[handle.kind] = handle
        handle.running = True
        self._pool.start(_Job(self._next_id, handle.fn, handle.token, self._hub))
        if not was_busy:
            self.sigBusyChanged.emit(True)

    def _deliver(self, task_id: int, name: str, item: Any) -> None:
        handle = self._by_id.get(task_id)
        if handle is None:
            return
        callback = getattr(handle, name)
        if callback is None or handle.token.cancelled:
            return
        try:
            callback(item)
        except Exception as exc:  # a result the review could not take: said, and the window goes on
            log.exception("handling a result of background task %d (%s) failed", task_id, handle.kind)
            if name != "on_error" and handle.on_error is not None:
                handle.on_error(error_message(exc))

    def _finished(self, task_id: int, completed: bool) -> None:
        handle = self._by_id.pop(task_id)
        handle.running = False
        handle.finished = True
        if self._running.get(handle.kind) is handle:
            del self._running[handle.kind]
        if handle.on_done:
            handle.on_done(completed)
        queued = self._queued.pop(handle.kind, None)
        if queued is not None:
            self._start(queued)
        elif not self.busy():
            self.sigBusyChanged.emit(False)
