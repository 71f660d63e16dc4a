"""Human verdicts on candidates, kept in one SQLite session file as an append-only, undoable log.

The vocabulary (verdict kinds, references, states, changes) is in ``core.verdict_types`` and
re-exported here.

Why a log and not a table of current verdicts: every row of the exported catalog must say who
decided, when, and what was undone, and a crash must lose nothing already reported as saved.

The file holds

``meta``     format, reviewer, creation time, the catalog reference and the model in use (JSON values);
``events``   the log, never updated or deleted: edits (``verdict`` / ``note``, with ``prev`` = the
             edit of the same field in force before) and ``undo`` / ``redo`` entries naming the edit
             they undo or redo; replaying it gives the undo stack and position, so reopening a
             session restores them exactly;
``current``  per candidate, the verdict edit and the note edit now in force (a cache of the log,
             written in the same transaction, so ``states()`` is one query);
``scores``   model scores keyed by candidate and by the model name + version that produced them;
``head_scores`` beside them, a fusion model's spectrum-head and image-head scores and which one
             ``p_bhb`` is (created at the first write, so older files still open);
``writers``  one row per handle open for writing (reviewer, process, heartbeat), so a second
             window on the same session can be noticed and warned or opened read-only;
``reviews``  (merged sessions only) every source reviewer's verdict in force, see ``core.merge``.

Undo is per reviewer: each reviewer's undo stack holds only that reviewer's edits, and an undo
(or redo) changes a field only while the edit it reverts is still the one in force, so one
reviewer's undo never reverts another's later verdict (it is recorded, and reported as not applied).

Durability: WAL journal with ``synchronous=FULL``, one transaction per call, so a write that has
returned survives ``kill -9`` and power loss. Threads: one connection opened with
``check_same_thread=False`` and every public call serialised by a lock, so the GUI thread writes
and a worker may read. A second process writing the same file is noticed at its next write (the log
is replayed again), so two windows on one session do not corrupt the undo stack; a view polls
:meth:`Session.poll` (cheap when nothing changed) to refresh what another process wrote.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import process_alive
from bhb_viewer.core.verdict_types import (
    KIND_BY_VALUE,
    MODEL_CLASS,
    CandidateId,
    CandidateState,
    CatalogRef,
    Change,
    Edit,
    ModelRef,
    VerdictKind,
    Writer,
    agreement,
    disagrees,
    model_call,
)

__all__ = ["EDIT_ACTIONS", "FORMAT_NAME", "FORMAT_VERSION", "HEARTBEAT_S", "MODEL_CLASS", "STALE_S", "CandidateId",
           "CandidateState", "CatalogRef", "Change", "Edit", "ModelRef", "Session", "VerdictKind", "Writer", "agreement",
           "disagrees", "model_call"]

FORMAT_NAME = "bhb-session"
FORMAT_VERSION = 1
EDIT_ACTIONS = ("verdict", "note")
HEARTBEAT_S = 30.0  # how often an open window should call Session.heartbeat()
STALE_S = 3 * HEARTBEAT_S  # a writer silent for longer is taken as gone (crashed or unplugged)

log = logging.getLogger(__name__)

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _cid(cid: CandidateId) -> str:
    return str(cid)


def _decode(field: str, value: str | None) -> VerdictKind | str | None:
    if field == "verdict":
        return None if value is None else VerdictKind(value)
    return value


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('verdict', 'note', 'undo', 'redo')),
    cid TEXT,
    value TEXT,
    prev INTEGER REFERENCES events(seq),
    target INTEGER REFERENCES events(seq),
    blind INTEGER
);
CREATE TABLE current (
    cid TEXT PRIMARY KEY,
    verdict_seq INTEGER REFERENCES events(seq),
    note_seq INTEGER REFERENCES events(seq)
);
CREATE TABLE scores (
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    cid TEXT NOT NULL,
    p_bhb REAL NOT NULL,
    PRIMARY KEY (model_name, model_version, cid)
) WITHOUT ROWID;
"""
# Added after format 1 shipped; created on open where missing (older readers ignore them).
_WRITERS_SQL = """CREATE TABLE IF NOT EXISTS writers (
    id TEXT PRIMARY KEY, reviewer TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
    opened TEXT NOT NULL, heartbeat REAL NOT NULL)"""
_REVIEWS_SQL = """CREATE TABLE IF NOT EXISTS reviews (
    reviewer TEXT NOT NULL, cid TEXT NOT NULL, verdict TEXT, note TEXT NOT NULL, time TEXT NOT NULL,
    PRIMARY KEY (reviewer, cid)) WITHOUT ROWID"""
# The fusion model's per-modality heads beside its p_bhb (NULL: that head had no data for the star).
_HEAD_SCORES_SQL = """CREATE TABLE IF NOT EXISTS head_scores (
    model_name TEXT NOT NULL, model_version TEXT NOT NULL, cid TEXT NOT NULL,
    p_spectrum REAL, p_image REAL, score_from TEXT NOT NULL,
    PRIMARY KEY (model_name, model_version, cid)) WITHOUT ROWID"""
# Whether a verdict was made with the scores (and everything that reveals them) hidden: 1 hidden,
# 0 on show, NULL unknown (files from before this column, which only ever count as not blind).
# Added by ALTER TABLE on the first writable open; the one schema change of the events table.
_BLIND_COLUMN = "blind"
_RESERVED_META = frozenset({"format", "format_version", "reviewer", "created", "catalog", "model"})


class Session:
    """One review session file. Create with :meth:`create`, reopen with :meth:`open`; use as a context manager.

    Every verdict and note is an event appended to the file (WAL, synchronous FULL) the moment it
    is made, so a crash loses nothing that was shown as saved; undo and redo are events too, and
    act only on the reviewer's own events.

    Parameters
    ----------
    path : Path
        The session's SQLite file.
    conn : sqlite3.Connection
        Its open connection (made by :meth:`create` / :meth:`open`).
    reviewer : str, optional
        Who records verdicts through this handle.
    read_only : bool
        Refuse every write (for a window that found another writer) and do not register as a writer.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, reviewer: str | None = None, read_only: bool = False):
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        meta = self._read_meta()
        # WAL is a property of the file (set at creation); FULL sync must be asked for per connection.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        self.reviewer: str = reviewer or meta["reviewer"]
        self.owner: str = meta["reviewer"]
        self.created: str = meta["created"]
        self.catalog = CatalogRef(**meta["catalog"])
        self.model: ModelRef | None = ModelRef(**meta["model"]) if meta.get("model") else None
        self.read_only = read_only
        self._has_blind = self._ensure_blind_column()
        self._stack: list[int] = []  # this reviewer's edit seqs on the current undo branch
        self._pos = 0  # edits in _stack[:_pos] are applied
        self._last_seq = 0
        self._replay()
        self._polled = self._last_seq  # poll() reports others' events after this seq
        self._own: set[int] = set()  # seqs this handle wrote since the last poll
        self._writer_id = uuid.uuid4().hex
        if not read_only:
            self._register()

    # -- opening -------------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT) in _write.
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        catalog: CatalogRef,
        reviewer: str,
        model: ModelRef | None = None,
    ) -> Session:
        """Start a new session file; refuses to overwrite an existing one."""
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path}: a session file already exists")
        if not reviewer.strip():
            raise ValueError("a session needs a reviewer name")
        conn = cls._connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "reviewer": reviewer,
            "created": _now(),
            "catalog": asdict(catalog),
            "model": asdict(model) if model else None,
        }
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        conn.execute("COMMIT")
        return cls(path, conn)

    @classmethod
    def open(cls, path: str | os.PathLike, reviewer: str | None = None, read_only: bool = False) -> Session:
        """Reopen a session with its verdicts, notes and undo position; ``reviewer`` overrides who writes next."""
        path = Path(path)
        if not path.is_file():
            raise BadInputError(path, "no such session file")
        conn = cls._connect(path)
        try:
            return cls(path, conn, reviewer, read_only)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise BadInputError(path, f"not a readable session file ({exc})") from exc
        except BadInputError:
            conn.close()
            raise

    def _ensure_blind_column(self) -> bool:
        """Add the events' ``blind`` column to a file from before it (not when read-only); whether it is there."""
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(events)")}
        if _BLIND_COLUMN in columns:
            return True
        if self.read_only:
            return False
        with suppress(sqlite3.OperationalError):  # another process added it a moment ago
            self._conn.execute(f"ALTER TABLE events ADD COLUMN {_BLIND_COLUMN} INTEGER")
        return _BLIND_COLUMN in {row[1] for row in self._conn.execute("PRAGMA table_info(events)")}

    def _read_meta(self) -> dict[str, Any]:
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
            meta = {k: json.loads(v) for k, v in rows}
        except (sqlite3.OperationalError, ValueError) as exc:
            raise BadInputError(self.path, f"not a session file ({exc})") from exc
        if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
            found = f"{meta.get('format')!r} v{meta.get('format_version')}"
            raise BadInputError(self.path, f"unsupported session format {found}")
        return meta

    def _replay(self) -> None:
        """Rebuild this reviewer's undo stack and position from the log (also after another process wrote).

        Every reviewer's stack is rebuilt, so an undo or redo that fits no history is caught whoever wrote it.
        """
        stacks: dict[str, tuple[list[int], list[int]]] = {}  # reviewer -> (stack, [pos])
        last = 0
        rows = self._conn.execute("SELECT seq, reviewer, action, target FROM events ORDER BY seq")
        for seq, reviewer, action, target in rows:
            stack, pos = stacks.setdefault(reviewer, ([], [0]))
            if action in EDIT_ACTIONS:
                del stack[pos[0]:]
                stack.append(seq)
                pos[0] += 1
            elif action == "undo" and pos[0] > 0 and stack[pos[0] - 1] == target:
                pos[0] -= 1
            elif action == "redo" and pos[0] < len(stack) and stack[pos[0]] == target:
                pos[0] += 1
            else:
                raise BadInputError(self.path, f"event {seq}: {action} of {target} does not fit the undo history")
            last = seq
        stack, pos = stacks.get(self.reviewer, ([], [0]))
        self._stack, self._pos, self._last_seq = stack, pos[0], last

    def close(self) -> None:
        with self._lock:
            if not self.read_only:
                try:
                    with self._transaction() as conn:
                        conn.execute("DELETE FROM writers WHERE id = ?", (self._writer_id,))
                except sqlite3.Error as exc:  # read-only media, a vanished file: the row goes stale instead
                    log.warning("%s: could not unregister this writer (%s)", self.path, exc)
            self._conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- other writers -------------------------------------------------------------------------

    def _register(self) -> None:
        try:
            with self._transaction() as conn:
                conn.execute(_WRITERS_SQL)
                conn.execute(
                    "INSERT INTO writers VALUES (?, ?, ?, ?, ?, ?)",
                    (self._writer_id, self.reviewer, os.getpid(), socket.gethostname(), _now(), time.time()),
                )
        except sqlite3.Error as exc:  # e.g. read-only media: the session still opens, unregistered
            log.warning("%s: cannot register as a writer (%s)", self.path, exc)

    def heartbeat(self) -> None:
        """Say this handle is alive (a window calls it every HEARTBEAT_S; every write does it too)."""
        if self.read_only:
            return
        try:
            with self._transaction() as conn:
                self._beat(conn)
        except sqlite3.Error as exc:  # the next write reports the fault to the person; a timer must not crash
            log.warning("%s: heartbeat not written (%s)", self.path, exc)

    def _beat(self, conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE writers SET heartbeat = ? WHERE id = ?", (time.time(), self._writer_id))

    def other_writers(self, stale_s: float = STALE_S) -> list[Writer]:
        """Other handles open for writing on this file (any process), leaving out ones silent for ``stale_s``
        and, on this host, ones whose process has gone. A window warns, or reopens read-only, when not empty."""
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT reviewer, pid, host, opened, heartbeat FROM writers WHERE id != ? AND heartbeat >= ?",
                    (self._writer_id, time.time() - stale_s),
                ).fetchall()
            except sqlite3.OperationalError:  # no writers table: nobody has registered
                return []
        here = socket.gethostname()
        return [Writer(*row) for row in rows if row[2] != here or process_alive(row[1])]

    # -- change counter ------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """A counter that grows with every verdict, note, undo or redo written by anyone."""
        with self._lock:
            return int(self._conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def poll(self) -> list[str]:
        """Candidate ids whose verdict or note another handle (any process) changed since the last poll.

        A view calls it on a timer and re-reads those states; the undo stack follows the file too.
        """
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, cid FROM events WHERE seq > ? ORDER BY seq", (self._polled,)
            ).fetchall()
            if not rows:
                return []
            changed = list(dict.fromkeys(cid for seq, cid in rows if seq not in self._own))
            self._polled = rows[-1][0]
            self._own = {s for s in self._own if s > self._polled}
            if rows[-1][0] != self._last_seq:
                self._replay()
            return changed

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")  # outside the try: if it fails there is nothing to roll back
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT may already have rolled back
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction; the in-memory undo stack follows the file if another writer appended."""
        if self.read_only:
            raise PermissionError(f"{self.path}: opened read-only (another window is writing this session)")
        with self._lock:
            try:
                with self._transaction() as conn:
                    (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
                    if last != self._last_seq:
                        self._replay()
                    yield conn
                    # a file from before the writers table, opened unregistered, has no row to beat
                    with suppress(sqlite3.OperationalError):
                        self._beat(conn)
            except BaseException:
                self._replay()
                raise

    def _append(self, conn: sqlite3.Connection, action: str, cid: str | None, value: str | None,
                prev: int | None = None, target: int | None = None,
                reviewer: str | None = None, when: str | None = None, blind: bool | None = None) -> int:
        cur = conn.execute(
            "INSERT INTO events (time, reviewer, action, cid, value, prev, target, blind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (when or _now(), reviewer or self.reviewer, action, cid, value, prev, target,
             None if blind is None else int(blind)),
        )
        seq = int(cur.lastrowid or 0)  # an INSERT always sets it
        self._last_seq = seq
        self._own.add(seq)
        return seq

    @staticmethod
    def _point(conn: sqlite3.Connection, cid: str, field: str, seq: int | None) -> None:
        conn.execute("INSERT OR IGNORE INTO current (cid) VALUES (?)", (cid,))
        conn.execute(f"UPDATE current SET {field}_seq = ? WHERE cid = ?", (seq, cid))

    @staticmethod
    def _in_force(conn: sqlite3.Connection, cid: str, field: str) -> tuple[int | None, str | None]:
        """(seq, value) of the edit of a field now in force, (None, None) when there is none."""
        row = conn.execute(
            f"SELECT e.seq, e.value FROM current c JOIN events e ON e.seq = c.{field}_seq WHERE c.cid = ?", (cid,)
        ).fetchone()
        return row if row else (None, None)

    def _apply(self, conn: sqlite3.Connection, cid: str, field: str, value: str | None,
               reviewer: str | None = None, when: str | None = None, blind: bool | None = None) -> int | None:
        """Append one edit and point the field at it (inside a transaction); None when nothing changes.

        The same verdict given again blind is recorded again when the one in force was not blind.
        """
        prev, old = self._in_force(conn, cid, field)
        if old == value and not (blind and prev is not None and self._has_blind
                                 and conn.execute("SELECT blind FROM events WHERE seq = ?", (prev,)).fetchone()[0] != 1):
            return None
        seq = self._append(conn, field, cid, value, prev=prev, reviewer=reviewer, when=when, blind=blind)
        self._point(conn, cid, field, seq)
        if (reviewer or self.reviewer) == self.reviewer:
            del self._stack[self._pos:]
            self._stack.append(seq)
            self._pos += 1
        return seq

    def _edit(self, cid: CandidateId, field: str, value: str | None, blind: bool | None = None) -> Change | None:
        cid = _cid(cid)
        with self._write() as conn:
            seq = self._apply(conn, cid, field, value, blind=blind)
        return None if seq is None else Change(seq, field, cid, field, _decode(field, value))

    def set_verdict(self, cid: CandidateId, kind: VerdictKind | None, blind: bool = False) -> Change | None:
        """Record (or with None clear) a verdict, durably; returns None when it is already the verdict.

        ``blind``: the scores, the heads' scores, the "≠ model" mark and the overlays that reveal
        them were hidden when it was made (only such verdicts count in a blind audit).
        """
        return self._edit(cid, "verdict", None if kind is None else VerdictKind(kind).value, blind)

    def set_note(self, cid: CandidateId, text: str) -> Change | None:
        """Record a note (an empty one clears it), durably; returns None when unchanged."""
        return self._edit(cid, "note", text or None)

    def record_many(self, edits: Iterable[Edit], blind: bool = False) -> int:
        """Record many edits (an imported table) in one transaction, all or none; returns the events written.

        Each edit keeps its own reviewer and time where given, and lands on that reviewer's undo stack.
        A None verdict or note leaves that field as it is. ``blind``: the verdicts were made with the
        scores hidden (a ``bhb sessions audit --sample-out`` sheet), as in :meth:`set_verdict`.
        """
        written = 0
        with self._write() as conn:
            for edit in edits:
                cid = _cid(edit.cid)
                verdict = None if edit.verdict is None else VerdictKind(edit.verdict).value
                for field, value in (("verdict", verdict), ("note", edit.note)):
                    if value is not None:
                        written += self._apply(conn, cid, field, value, edit.reviewer, edit.time,
                                               blind if field == "verdict" else None) is not None
        return written

    def undo(self) -> Change | None:
        """Undo this reviewer's latest applied edit (any candidate); None when there is nothing to undo.

        Where another reviewer has since changed that field, their verdict stands: the undo is
        recorded (so redo and the stack stay in step) but ``applied`` is False.
        """
        with self._write() as conn:
            if self._pos == 0:
                return None
            target = self._stack[self._pos - 1]
            cid, field, prev = conn.execute("SELECT cid, action, prev FROM events WHERE seq = ?", (target,)).fetchone()
            seq = self._append(conn, "undo", cid, None, target=target)
            applied = self._in_force(conn, cid, field)[0] == target
            if applied:
                self._point(conn, cid, field, prev)
            self._pos -= 1
            value = self._in_force(conn, cid, field)[1]
        return Change(seq, "undo", cid, field, _decode(field, value), applied)

    def redo(self) -> Change | None:
        """Reapply this reviewer's edit last undone; None when there is nothing to redo (not applied, as for
        undo, where another reviewer has changed the field since)."""
        with self._write() as conn:
            if self._pos == len(self._stack):
                return None
            target = self._stack[self._pos]
            cid, field, prev = conn.execute("SELECT cid, action, prev FROM events WHERE seq = ?", (target,)).fetchone()
            seq = self._append(conn, "redo", cid, None, target=target)
            applied = self._in_force(conn, cid, field)[0] == prev
            if applied:
                self._point(conn, cid, field, target)
            self._pos += 1
            value = self._in_force(conn, cid, field)[1]
        return Change(seq, "redo", cid, field, _decode(field, value), applied)

    @property
    def can_undo(self) -> bool:
        with self._lock:
            return self._pos > 0

    @property
    def can_redo(self) -> bool:
        with self._lock:
            return self._pos < len(self._stack)

    # -- extra metadata and merged reviews -----------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under a key of the session's own (e.g. a merge's sources, an audit plan)."""
        if key in _RESERVED_META:
            raise ValueError(f"{key!r} is part of the session format and is not set this way")
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A value stored with :meth:`set_meta` (``default`` when absent)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def store_reviews(self, reviews: Mapping[str, Mapping[str, CandidateState]]) -> None:
        """Keep other reviewers' verdicts in force (reviewer -> cid -> state) beside this session's own log."""
        rows = [
            (reviewer, cid, st.verdict.value if st.verdict else None, st.note, st.time)
            for reviewer, states in reviews.items() for cid, st in states.items()
        ]
        with self._write() as conn:
            conn.execute(_REVIEWS_SQL)
            conn.executemany("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?)", rows)

    def reviews(self) -> dict[str, dict[str, CandidateState]]:
        """Stored reviewers' states, reviewer -> cid -> state (empty for a session that is not a merge)."""
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT reviewer, cid, verdict, note, time FROM reviews ORDER BY reviewer"
                ).fetchall()
            except sqlite3.OperationalError:  # no reviews table: not a merged session
                return {}
        out: dict[str, dict[str, CandidateState]] = {}
        for reviewer, cid, verdict, note, when in rows:
            kind = KIND_BY_VALUE[verdict] if verdict else None
            out.setdefault(reviewer, {})[cid] = CandidateState(kind, note, reviewer, when)
        return out

    def set_model(self, model: ModelRef | None) -> None:
        """Record which model the reviewer is now looking at (scores keep their own versions)."""
        with self._write() as conn:
            value = json.dumps(asdict(model) if model else None)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'model'", (value,))
        self.model = model

    # -- reading -------------------------------------------------------------------------------

    _STATE_SQL = """
        SELECT c.cid, v.value, v.reviewer, v.time, n.value, n.reviewer, n.time
        FROM current c LEFT JOIN events v ON v.seq = c.verdict_seq LEFT JOIN events n ON n.seq = c.note_seq
        WHERE (v.value IS NOT NULL OR n.value IS NOT NULL)
    """

    @staticmethod
    def _state(row: tuple) -> CandidateState:
        _, verdict, v_rev, v_time, note, n_rev, n_time = row
        if verdict is not None:
            return CandidateState(KIND_BY_VALUE[verdict], note or "", v_rev, v_time)
        return CandidateState(None, note or "", n_rev, n_time)

    def state(self, cid: CandidateId) -> CandidateState | None:
        """The candidate's verdict and note now in force; None when it has neither."""
        with self._lock:
            row = self._conn.execute(self._STATE_SQL + " AND c.cid = ?", (_cid(cid),)).fetchone()
        return self._state(row) if row else None

    def states(self) -> dict[str, CandidateState]:
        """Every candidate with a verdict or note, keyed by candidate id (as a string)."""
        with self._lock:
            rows = self._conn.execute(self._STATE_SQL).fetchall()
        return {row[0]: self._state(row) for row in rows}

    def verdicts_since(self, seq: int, blind: bool = False) -> dict[str, CandidateState]:
        """Candidates whose verdict in force was recorded after log event ``seq`` (e.g. during a blind
        audit); with ``blind`` only those recorded with the scores hidden."""
        if blind and not self._has_blind:
            return {}  # a read-only file from before the column: no verdict is known to be blind
        sql = self._STATE_SQL + " AND v.value IS NOT NULL AND c.verdict_seq > ?" + (" AND v.blind = 1" if blind else "")
        with self._lock:
            rows = self._conn.execute(sql, (int(seq),)).fetchall()
        return {row[0]: self._state(row) for row in rows}

    def counts(self) -> dict[VerdictKind, int]:
        """How many candidates hold each verdict now (every kind present, zeros included)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT e.value, count(*) FROM current c JOIN events e ON e.seq = c.verdict_seq "
                "WHERE e.value IS NOT NULL GROUP BY e.value"
            ).fetchall()
        counts = dict.fromkeys(VerdictKind, 0)
        counts.update({VerdictKind(v): n for v, n in rows})
        return counts

    def events(self, cid: CandidateId | None = None) -> list[dict[str, Any]]:
        """The raw log (all of it, or one candidate's), oldest first: the audit trail (with each
        verdict's ``blind`` where the file has that column)."""
        sql = f"SELECT seq, time, reviewer, action, cid, value, prev, target{', blind' if self._has_blind else ''} FROM events"
        args: tuple = ()
        if cid is not None:
            sql, args = sql + " WHERE cid = ?", (_cid(cid),)
        with self._lock:
            cur = self._conn.execute(sql + " ORDER BY seq", args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- scores cache --------------------------------------------------------------------------

    def store_scores(self, model: ModelRef, cids: Iterable[CandidateId], p_bhb: Iterable[float],
                     p_spectrum: Iterable[float] | None = None, p_image: Iterable[float] | None = None,
                     score_from: Iterable[str] | None = None) -> None:
        """Cache scores under the model name and version that produced them (replacing older ones).

        With ``score_from`` (which score p_bhb is), each modality head's P(BHB) is cached too, in
        the same transaction (None or NaN: no data for that head), so a reopened list shows the
        three side by side without scoring again.
        """
        cids = [_cid(c) for c in cids]
        rows = [(model.name, model.version, c, float(p)) for c, p in zip(cids, p_bhb, strict=True)]
        heads = []
        if score_from is not None:
            nan = [float("nan")] * len(cids)
            heads = [(model.name, model.version, c, _real_or_none(s), _real_or_none(i), str(f))
                     for c, s, i, f in zip(cids, nan if p_spectrum is None else p_spectrum,
                                           nan if p_image is None else p_image, score_from, strict=True)]
        with self._write() as conn:
            conn.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", rows)
            if heads:
                conn.execute(_HEAD_SCORES_SQL)
                conn.executemany("INSERT OR REPLACE INTO head_scores VALUES (?, ?, ?, ?, ?, ?)", heads)

    def load_scores(self, model_name: str, model_version: str) -> dict[str, float]:
        """Cached P(BHB) by candidate id for exactly this model version (empty when none)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT cid, p_bhb FROM scores WHERE model_name = ? AND model_version = ?", (model_name, model_version)
            ).fetchall()
        return dict(rows)

    def load_head_scores(self, model_name: str, model_version: str) -> dict[str, tuple[float, float, str]]:
        """Cached (p_spectrum, p_image, score_from) by candidate id (NaN for a head without data;
        empty for a session written before heads were cached)."""
        with self._lock:
            try:
                rows = self._conn.execute("SELECT cid, p_spectrum, p_image, score_from FROM head_scores "
                                          "WHERE model_name = ? AND model_version = ?", (model_name, model_version)).fetchall()
            except sqlite3.OperationalError:  # no such table
                return {}
        nan = float("nan")
        return {cid: (nan if s is None else s, nan if i is None else i, f) for cid, s, i, f in rows}

    def scored_models(self) -> list[ModelRef]:
        """Model name/version pairs with cached scores."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT model_name, model_version FROM scores ORDER BY 1, 2").fetchall()
        return [ModelRef(name, version) for name, version in rows]


def _real_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
