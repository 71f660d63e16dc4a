import os
import signal
import threading

import pytest

from bhb_viewer.core.progress import CancelToken, Cancelled, cancel_on_signals


def test_first_signal_cancels_second_interrupts_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with cancel_on_signals(CancelToken()) as cancel:
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
