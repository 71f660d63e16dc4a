"""TaskRunner: batches arrive in order on the GUI thread, cancel works, a second task of a kind waits."""

from __future__ import annotations

import threading
import time

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.progress import ProgressEvent
from bhb_viewer.gui.workers import TaskRunner


def _counting(n: int, delay: float = 0.0, started: threading.Event | None = None):
    def fn(cancel, progress):
        if started is not None:
            started.set()
        for i in range(n):
            cancel.check()
            time.sleep(delay)
            progress(ProgressEvent("count", i + 1, n))
            yield i

    return fn


def test_batches_progress_and_done_arrive_on_gui_thread(qtbot):
    runner = TaskRunner()
    got, threads, progress, done = [], set(), [], []

    def on_batch(i):
        got.append(i)
        threads.add(threading.current_thread() is threading.main_thread())

    runner.submit("count", _counting(5), on_batch=on_batch, on_progress=progress.append, on_done=done.append)
    qtbot.waitUntil(lambda: done == [True], timeout=5000)
    assert got == [0, 1, 2, 3, 4]
    assert threads == {True}
    assert progress[-1].done == 5  # the final event always gets through the throttle
    assert not runner.busy()


def test_cancel_stops_a_running_task(qtbot):
    runner = TaskRunner()
    got, done = [], []
    started = threading.Event()
    runner.submit("score", _counting(1000, 0.005, started), on_batch=got.append, on_done=done.append)
    assert started.wait(5)
    runner.cancel("score")
    qtbot.waitUntil(lambda: done == [False], timeout=5000)
    assert len(got) < 1000


def test_second_task_of_a_kind_cancels_first_and_never_overlaps(qtbot):
    runner = TaskRunner()
    active, overlap, done_a, done_b, got_b = [0], [False], [], [], []
    lock = threading.Lock()

    def slow(tag):
        def fn(cancel, progress):
            with lock:
                active[0] += 1
                overlap[0] |= active[0] > 1
            try:
                for i in range(200):
                    time.sleep(0.002)
                    cancel.check()
                    yield (tag, i)
            finally:
                with lock:
                    active[0] -= 1

        return fn

    runner.submit("score", slow("a"), on_done=done_a.append)
    runner.submit("score", slow("b"), on_batch=got_b.append, on_done=done_b.append)
    qtbot.waitUntil(lambda: done_b == [True], timeout=10000)
    assert done_a == [False]
    assert not overlap[0]
    assert {tag for tag, _ in got_b} == {"b"} and len(got_b) == 200


def test_errors_arrive_as_messages(qtbot):
    runner = TaskRunner()
    errors, done = [], []

    def broken(cancel, progress):
        yield 1
        raise BadInputError("/tmp/x.fits", "not a FITS file")

    runner.submit("load", broken, on_error=errors.append, on_done=done.append)
    qtbot.waitUntil(lambda: done == [False], timeout=5000)
    assert errors == ["/tmp/x.fits: not a FITS file"]
