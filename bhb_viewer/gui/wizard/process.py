"""``bhb train … --progress-json`` as a child process (QProcess) feeding a TrainingMonitor.

Training runs in its own process, so a crash, an out-of-memory kill or a hung CUDA driver ends that
process and never the viewer; the window only reads JSON lines from the child's standard output and
keeps the last lines of its error output to show why it died.
"""

from __future__ import annotations

import logging
from collections import deque

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from bhb_viewer.core.training.retrain import TrainingMonitor, child_environment

log = logging.getLogger(__name__)
STDERR_LINES = 30
CANCELLED_EXIT = 130  # bhb train's exit status after a clean cancel (resume state saved)


class TrainProcess(QObject):
    """One training child at a time; signals carry parsed events and how it ended."""

    sigEvent = Signal(dict)  # every JSON event of the child (progress, done, error, cancelled)
    sigFinished = Signal(str, str)  # outcome (done / cancelled / error / crashed), message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.monitor = TrainingMonitor()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)
        self._stdout_buffer = b""
        self._proc: QProcess | None = None
        self._cancelling = False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    def start(self, argv: list[str]) -> None:
        """Run ``argv`` (core.training's train_command or resume_command); a fresh monitor follows it."""
        if self.running:
            raise RuntimeError("a training process is already running")
        self.monitor, self.stderr_tail = TrainingMonitor(), deque(maxlen=STDERR_LINES)
        self._stdout_buffer, self._cancelling = b"", False
        proc = QProcess(self)
        env = QProcessEnvironment()
        for key, value in child_environment().items():
            env.insert(key, value)
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self._proc = proc
        log.info("training child: %s", " ".join(argv))
        proc.start(argv[0], argv[1:])

    def cancel(self) -> None:
        """Ask the child to stop between steps (SIGTERM): it saves a resumable state and exits 130."""
        if self._proc is not None and self.running:
            self._cancelling = True
            self._proc.terminate()

    def wait(self, timeout_ms: int) -> bool:
        """Block until the child ends (only at application exit); True when it did."""
        return self._proc is None or not self.running or self._proc.waitForFinished(timeout_ms)

    def _read_stdout(self) -> None:
        if self._proc is None:
            return
        self._stdout_buffer += bytes(self._proc.readAllStandardOutput().data())
        *lines, self._stdout_buffer = self._stdout_buffer.split(b"\n")
        for raw in lines:
            event = self.monitor.feed(raw.decode("utf-8", "replace"))
            if event is not None:
                self.sigEvent.emit(event)

    def _read_stderr(self) -> None:
        if self._proc is None:
            return
        text = bytes(self._proc.readAllStandardError().data()).decode("utf-8", "replace")
        self.stderr_tail.extend(line for line in text.splitlines() if line.strip())

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._proc is not None:
            self.stderr_tail.append(f"could not start the training process: {self._proc.errorString()}")
            self._proc = None
            self.sigFinished.emit("crashed", "\n".join(self.stderr_tail))

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        monitor = self.monitor
        if status == QProcess.ExitStatus.NormalExit and code == 0 and monitor.outcome == "done":
            outcome, message = "done", monitor.run_dir
        elif monitor.outcome == "cancelled" or (self._cancelling and code == CANCELLED_EXIT):
            outcome, message = "cancelled", monitor.message or "cancelled; the run can be resumed"
        elif self._cancelling:  # stopped before training began (still importing): nothing to resume
            outcome, message = "cancelled", "stopped before training began"
        elif monitor.outcome == "error":
            outcome, message = "error", monitor.message
        else:
            why = "crashed" if status == QProcess.ExitStatus.CrashExit else f"exited with status {code}"
            tail = "\n".join(self.stderr_tail) or "(no error output)"
            outcome, message = "crashed", f"the training process {why}; its last error output:\n{tail}"
        log.info("training child finished: %s (%s)", outcome, message.splitlines()[0] if message else "")
        self._proc = None
        self.sigFinished.emit(outcome, message)
