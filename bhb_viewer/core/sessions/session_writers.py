"""Who has a session file open for writing, so a second window on it can be noticed and warned.

Writes: a row at open and its removal at close (whichever thread opens the session: the GUI thread
for the app, the main thread for ``bhb sessions``), and the window's heartbeat from a GUI-thread
timer (``review.team``). Reads: the same window, before it records verdicts beside another writer.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
import uuid

from bhb_viewer.core.files import process_alive
from bhb_viewer.core.sessions.session_db import SessionDB
from bhb_viewer.core.sessions.verdict_types import Writer, now_stamp

__all__ = ["HEARTBEAT_S", "STALE_S", "WriterRegistry"]

HEARTBEAT_S = 30.0  # how often an open window should call WriterRegistry.heartbeat()
STALE_S = 3 * HEARTBEAT_S  # a writer silent for longer is taken as gone (crashed or unplugged)

log = logging.getLogger(__name__)


class WriterRegistry:
    """The ``writers`` table: one row per handle open for writing (reviewer, process, host, heartbeat).

    A fault here never stops a review: on read-only media or a vanished file the handle stays
    unregistered, or its row goes stale, and a warning is logged.

    Parameters
    ----------
    db : SessionDB
        The session's connection.
    reviewer : str
        Who writes through this handle (shown to the other window).
    """

    def __init__(self, db: SessionDB, reviewer: str):
        self._db = db
        self._reviewer = reviewer
        self._id = uuid.uuid4().hex
        self._registered = False

    def register(self) -> None:
        """Add this handle's row (a session opened for writing does it; a read-only one stays unseen)."""
        # e.g. read-only media: the session still opens, unregistered
        self._registered = self._write("INSERT INTO writers VALUES (?, ?, ?, ?, ?, ?)",
                                       (self._id, self._reviewer, os.getpid(), socket.gethostname(), now_stamp(),
                                        time.time()), "cannot register as a writer")

    def unregister(self) -> None:
        """Remove this handle's row (at close)."""
        # read-only media, a vanished file: the row goes stale instead
        if self._registered and self._write("DELETE FROM writers WHERE id = ?", (self._id,),
                                            "could not unregister this writer"):
            self._registered = False

    def heartbeat(self) -> None:
        """Say this handle is alive (a window calls it every HEARTBEAT_S)."""
        # the next write reports the fault to the person; a timer must not crash
        if self._registered:
            self._write("UPDATE writers SET heartbeat = ? WHERE id = ?", (time.time(), self._id),
                        "heartbeat not written")

    def _write(self, sql: str, args: tuple, failure: str) -> bool:
        """One statement in its own transaction; a database error is logged as ``failure``, not raised."""
        try:
            with self._db.transaction() as conn:
                conn.execute(sql, args)
            return True
        except sqlite3.Error as exc:
            log.warning("%s: %s (%s)", self._db.path, failure, exc)
            return False

    def others(self, stale_s: float = STALE_S) -> list[Writer]:
        """Other handles open for writing on this file (any process), leaving out ones silent for ``stale_s``
        and, on this host, ones whose process has gone. A window warns, or reopens read-only, when not empty."""
        rows = self._db.rows(
            "SELECT reviewer, pid, host, opened, heartbeat FROM writers WHERE id != ? AND heartbeat >= ?",
            (self._id, time.time() - stale_s),
        )
        here = socket.gethostname()
        return [Writer(*row) for row in rows if row[2] != here or process_alive(row[1])]
