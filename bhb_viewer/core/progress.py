"""A small progress + cancel protocol shared by the CLI (text bar, JSON lines) and the GUI (signals).

Core and ml code call ``progress(ProgressEvent(...))`` and ``cancel.check()`` between steps;
they never know who is listening.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO


@dataclass
class ProgressEvent:
    stage: str
    done: int
    total: int | None = None
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)


ProgressCallback = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The default callback: listen to nothing."""


class Cancelled(Exception):
    """Raised by ``CancelToken.check`` once cancel was requested."""


class CancelToken:
    """Thread-safe cancel flag polled between steps of long work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")


@contextmanager
def cancel_on_signals(cancel: CancelToken) -> Iterator[CancelToken]:
    """While inside, a first SIGINT/SIGTERM cancels ``cancel`` (the work stops cleanly at its next
    check) and a second one raises KeyboardInterrupt at once; the old handlers come back on exit.
    Handlers can only be set in the main thread: elsewhere nothing is installed."""

    def stop(*_) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    in_main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)} if in_main else {}
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class TerminalProgress:
    """Text progress: on a terminal a one-line bar with ETA redrawn at most ten times a second; on
    anything else (a cluster job's log file, a pipe) one plain line every ``interval`` seconds per
    stage plus its last step, so a long run's log stays a few lines a minute instead of one
    endless carriage-return line."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, interval: float = 5.0,
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.interval = interval
        self.tty = _isatty(self.stream) if tty is None else tty
        self._start: dict[str, float] = {}
        self._last = float("-inf")

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        new_stage = event.stage not in self._start
        start = self._start.setdefault(event.stage, now)
        finished = event.total is not None and event.done >= event.total
        if not (finished or now - self._last >= (0.1 if self.tty else self.interval) or (new_stage and not self.tty)):
            return
        self._last = now
        frac = event.fraction
        eta = (now - start) / frac - (now - start) if frac else float("nan")
        extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in event.metrics.items())
        if not self.tty:
            count = f"{event.done}/{event.total}" if event.total is not None else f"{event.done}"
            pct = f" ({100 * frac:.0f} %, ETA {eta:.0f} s)" if frac is not None and not finished else ""
            self.stream.write(f"{event.stage}: {count}{pct} {event.message} {extra}".rstrip() + "\n")
            self.stream.flush()
            return
        if frac is None:
            bar = f"{event.done}"
        else:
            filled = int(round(frac * self.width))
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {event.done}/{event.total} ETA {eta:5.0f}s"
        self.stream.write(f"\r{event.stage}: {bar} {event.message} {extra}".rstrip()[:200].ljust(80))
        if finished:
            self.stream.write("\n")
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False


class JsonLinesProgress:
    """One JSON object per event on a stream, so a parent process (the GUI) can follow a child."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: ProgressEvent) -> None:
        self.stream.write(json.dumps({"event": "progress", **asdict(event)}, default=float) + "\n")
        self.stream.flush()
