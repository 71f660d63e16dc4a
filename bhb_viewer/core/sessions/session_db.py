"""The session file's one SQLite connection, shared by the verdict log, the writer registry, the score
cache and the session's metadata (``core.sessions.verdicts``).

Why one connection: the parts write different tables, but a verdict and the log position it moves
must commit together, and SQLite serialises writers per file anyway; one connection under one lock
keeps every transaction whole without a second file handle per part.

Durability: WAL journal (a property of the file, set when it is created) and ``synchronous=FULL``
(asked for per connection), one transaction per write, so a write that has returned survives
``kill -9`` and power loss.

Threads: opened with ``check_same_thread=False``; every statement runs under one re-entrant lock,
so the GUI thread (verdicts, notes, metadata, heartbeats) and the scoring worker (the score cache)
never interleave inside a transaction. Other processes on the same file wait on SQLite's lock
(``BEGIN IMMEDIATE``, up to 10 s).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions import session_schema

__all__ = ["SessionDB"]


class SessionDB:
    """One session file's connection, its lock and its transactions.

    Parameters
    ----------
    path : Path
        The SQLite file (opening writes nothing to it; :meth:`prepare` does).
    read_only : bool
        Refuse :meth:`write` (a window that found another writer, a merge reading its sources).
    """

    def __init__(self, path: Path, read_only: bool = False):
        self.path = path
        self.read_only = read_only
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) in transaction().
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self.lock = threading.RLock()

    def prepare(self) -> None:
        """Ask for WAL and full sync (call once the file is known to be a session, or is new)."""
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")

    def upgrade(self) -> None:
        """Run the schema migrations the file has not had (see ``core.sessions.session_schema``), even read-only:
        they add only what older releases ignore, and every part relies on the tables being there."""
        with self.lock:
            if session_schema.is_current(self.conn):
                return
            try:
                with self.transaction() as conn:
                    session_schema.upgrade(conn, self.path)  # re-reads the version under the write lock
            except sqlite3.OperationalError as exc:
                raise BadInputError(self.path, f"from an older release and cannot be upgraded here ({exc})") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the lock: committed when the block ends, rolled back when it raises."""
        with self.lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")  # outside the try: if it fails there is nothing to roll back
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT may already have rolled back
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A :meth:`transaction` for a change the person or a job asked for; refused on a read-only handle."""
        if self.read_only:
            raise PermissionError(f"{self.path}: opened read-only (another window is writing this session)")
        with self.transaction() as conn:
            yield conn

    def rows(self, sql: str, args: tuple = ()) -> list[Any]:
        """Every row of one query, read under the lock."""
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def row(self, sql: str, args: tuple = ()) -> Any:
        """The first row of one query (None when there is none), read under the lock."""
        with self.lock:
            return self.conn.execute(sql, args).fetchone()

    def close(self) -> None:
        with self.lock:
            self.conn.close()
