import os
import signal
import threading

import pytest

from bhb_viewer.core.progress import Cancelled, CancelToken, cancel_on_signals


def test_first_signal_cancels_second_interrupts_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), cancel_on_signals(CancelToken()) as cancel:
        os.kill(os.getpid(), signal.SIGTERM)
        assert cancel.cancelled
        with pytest.raises(Cancelled):
            cancel.check()
        os.kill(os.getpid(), signal.SIGINT)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_outside_the_main_thread_nothing_is_installed():
    seen = []

    def work():
        with cancel_on_signals(CancelToken()) as cancel:
            seen.append((cancel.cancelled, signal.getsignal(signal.SIGTERM)))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [(False, before)]


def test_text_progress_off_a_terminal_is_one_plain_line_every_few_seconds(monkeypatch):
    import io

    from bhb_viewer.core import progress as progress_module
    from bhb_viewer.core.progress import ProgressEvent, TerminalProgress

    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    log = io.StringIO()  # not a tty, like a cluster job's log
    bar = TerminalProgress(log, interval=5.0)
    for step in range(1, 1001):  # 1000 steps over 20 s
        clock[0] = step * 0.02
        bar(ProgressEvent("train:spectrum", step, 1000, "epoch 1/1", {"loss": 0.5}))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 4 <= len(lines) <= 6, lines  # the first step, one every 5 s, the last
    assert lines[0].startswith("train:spectrum: 1/1000") and lines[-1].startswith("train:spectrum: 1000/1000 epoch 1/1")
    assert "ETA" in lines[1] and "loss=0.5" in lines[1]

    tty = io.StringIO()
    TerminalProgress(tty, tty=True)(ProgressEvent("score", 1, 2))
    assert tty.getvalue().startswith("\rscore: [")
