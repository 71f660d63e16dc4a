"""Human verdicts on candidates, kept in one SQLite session file as an append-only, undoable log.

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
``scores``   model scores keyed by candidate and by the model name + version that produced them.

Durability: WAL journal with ``synchronous=FULL``, one transaction per call, so a write that has
returned survives ``kill -9`` and power loss. Threads: one connection opened with
``check_same_thread=False`` and every public call serialised by a lock, so the GUI thread writes
and a worker may read. A second process writing the same file is noticed at its next write (the log
is replayed again), so two windows on one session do not corrupt the undo stack.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import file_sha256

FORMAT_NAME = "bhb-session"
FORMAT_VERSION = 1
EDIT_ACTIONS = ("verdict", "note")

CandidateId = str | int


class VerdictKind(Enum):
    """What a person decided a candidate is; ``value`` is what the session file and exports store."""

    BHB = "bhb"
    BLUE_STRAGGLER = "blue_straggler"
    MS_A = "ms_a"
    NON_BHB = "non_bhb"
    OTHER = "other"
    BAD_DATA = "bad_data"
    UNSURE = "unsure"

    @property
    def key(self) -> str:
        """The single keyboard key that records this verdict (shown on its button)."""
        return _KEYS[self]

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def model_class(self) -> int | None:
        """The model's binary class this verdict corresponds to (1 BHB, 0 non-BHB) or None if neither."""
        return MODEL_CLASS[self]

    @classmethod
    def from_key(cls, key: str) -> VerdictKind | None:
        return _BY_KEY.get(key.upper())


_KEYS = {
    VerdictKind.BHB: "B",
    VerdictKind.BLUE_STRAGGLER: "S",
    VerdictKind.MS_A: "A",
    VerdictKind.NON_BHB: "N",
    VerdictKind.OTHER: "O",
    VerdictKind.BAD_DATA: "X",
    VerdictKind.UNSURE: "U",
}
_BY_KEY = {key: kind for kind, key in _KEYS.items()}
_BY_VALUE = {kind.value: kind for kind in VerdictKind}
_LABELS = {
    VerdictKind.BHB: "BHB",
    VerdictKind.BLUE_STRAGGLER: "blue straggler",
    VerdictKind.MS_A: "main-sequence A",
    VerdictKind.NON_BHB: "non-BHB",
    VerdictKind.OTHER: "other",
    VerdictKind.BAD_DATA: "bad data",
    VerdictKind.UNSURE: "unsure",
}
# NON_BHB exists because the model only says "not a BHB" (blue straggler or main-sequence A, the
# paper's negative class, not told apart); accepting a low score with Enter records exactly that.
MODEL_CLASS: dict[VerdictKind, int | None] = {
    VerdictKind.BHB: 1,
    VerdictKind.BLUE_STRAGGLER: 0,
    VerdictKind.MS_A: 0,
    VerdictKind.NON_BHB: 0,
    VerdictKind.OTHER: None,
    VerdictKind.BAD_DATA: None,
    VerdictKind.UNSURE: None,
}


def model_call(p_bhb: float, cut: float = 0.5) -> VerdictKind:
    """The verdict that accepting the model's call records: BHB when P(BHB) ≥ cut, else non-BHB."""
    return VerdictKind.BHB if p_bhb >= cut else VerdictKind.NON_BHB


def disagrees(kind: VerdictKind | None, p_bhb: float | None, cut: float = 0.5) -> bool:
    """True when a verdict names a class and the model's call at ``cut`` is the other one."""
    if kind is None or kind.model_class is None or p_bhb is None or p_bhb != p_bhb:
        return False
    return kind.model_class != int(p_bhb >= cut)


@dataclass(frozen=True)
class CatalogRef:
    """The candidate list a session vets: where it was, its content hash and its length."""

    path: str
    sha256: str
    n_rows: int

    @classmethod
    def from_file(cls, path: str | os.PathLike, n_rows: int) -> CatalogRef:
        return cls(str(Path(path).resolve()), file_sha256(path), int(n_rows))


@dataclass(frozen=True)
class ModelRef:
    """The model whose scores the reviewer saw."""

    name: str
    version: str
    checkpoint: str | None = None


class CandidateState(NamedTuple):
    """A candidate's verdict and note now in force; reviewer and time are the verdict's (the note's if no verdict).

    A named tuple rather than a dataclass: ``states()`` builds 100,000 of them at a time.
    """

    verdict: VerdictKind | None
    note: str
    reviewer: str
    time: str


@dataclass(frozen=True)
class Change:
    """What one call changed, for the GUI to refresh: the field of a candidate and its value now."""

    seq: int
    action: str  # verdict, note, undo or redo
    cid: str
    field: str  # verdict or note
    value: VerdictKind | str | None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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
    target INTEGER REFERENCES events(seq)
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


class Session:
    """One review session file. Create with :meth:`create`, reopen with :meth:`open`; use as a context manager."""

    def __init__(self, path: Path, conn: sqlite3.Connection, reviewer: str | None = None):
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        meta = self._read_meta()
        # WAL is a property of the file (set at creation); FULL sync must be asked for per connection.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        self.reviewer: str = reviewer or meta["reviewer"]
        self.created: str = meta["created"]
        self.catalog = CatalogRef(**meta["catalog"])
        self.model: ModelRef | None = ModelRef(**meta["model"]) if meta.get("model") else None
        self._stack: list[int] = []  # edit seqs of the current undo branch
        self._pos = 0  # edits in _stack[:_pos] are applied
        self._last_seq = 0
        self._replay()

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
    def open(cls, path: str | os.PathLike, reviewer: str | None = None) -> Session:
        """Reopen a session with its verdicts, notes and undo position; ``reviewer`` overrides who writes next."""
        path = Path(path)
        if not path.is_file():
            raise BadInputError(path, "no such session file")
        conn = cls._connect(path)
        try:
            return cls(path, conn, reviewer)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise BadInputError(path, f"not a readable session file ({exc})") from exc
        except BadInputError:
            conn.close()
            raise

    def _read_meta(self) -> dict[str, Any]:
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
            meta = {k: json.loads(v) for k, v in rows}
        except (sqlite3.OperationalError, ValueError) as exc:
            raise BadInputError(self.path, f"not a session file ({exc})") from exc
        if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
            raise BadInputError(self.path, f"unsupported session format {meta.get('format')!r} v{meta.get('format_version')}")
        return meta

    def _replay(self) -> None:
        """Rebuild the undo stack and position from the log (also after another process wrote)."""
        stack: list[int] = []
        pos = 0
        last = 0
        for seq, action, target in self._conn.execute("SELECT seq, action, target FROM events ORDER BY seq"):
            if action in EDIT_ACTIONS:
                del stack[pos:]
                stack.append(seq)
                pos += 1
            elif action == "undo" and pos > 0 and stack[pos - 1] == target:
                pos -= 1
            elif action == "redo" and pos < len(stack) and stack[pos] == target:
                pos += 1
            else:
                raise BadInputError(self.path, f"event {seq}: {action} of {target} does not fit the undo history")
            last = seq
        self._stack, self._pos, self._last_seq = stack, pos, last

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction; the in-memory undo stack follows the file if another writer appended."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")  # outside the try: if it fails there is nothing to roll back
            try:
                (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
                if last != self._last_seq:
                    self._replay()
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # a failed COMMIT may already have rolled back
                    conn.execute("ROLLBACK")
                self._replay()
                raise

    def _append(self, conn: sqlite3.Connection, action: str, cid: str | None, value: str | None,
                prev: int | None = None, target: int | None = None) -> int:
        cur = conn.execute(
            "INSERT INTO events (time, reviewer, action, cid, value, prev, target) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_now(), self.reviewer, action, cid, value, prev, target),
        )
        self._last_seq = cur.lastrowid
        return cur.lastrowid

    @staticmethod
    def _point(conn: sqlite3.Connection, cid: str, field: str, seq: int | None) -> None:
        conn.execute("INSERT OR IGNORE INTO current (cid) VALUES (?)", (cid,))
        conn.execute(f"UPDATE current SET {field}_seq = ? WHERE cid = ?", (seq, cid))

    def _edit(self, cid: CandidateId, field: str, value: str | None) -> Change | None:
        cid = _cid(cid)
        with self._write() as conn:
            row = conn.execute(
                f"SELECT e.seq, e.value FROM current c JOIN events e ON e.seq = c.{field}_seq WHERE c.cid = ?", (cid,)
            ).fetchone()
            prev, old = row if row else (None, None)
            if old == value:
                return None
            seq = self._append(conn, field, cid, value, prev=prev)
            self._point(conn, cid, field, seq)
            del self._stack[self._pos:]
            self._stack.append(seq)
            self._pos += 1
        return Change(seq, field, cid, field, _decode(field, value))

    def set_verdict(self, cid: CandidateId, kind: VerdictKind | None) -> Change | None:
        """Record (or with None clear) a verdict, durably; returns None when it is already the verdict."""
        return self._edit(cid, "verdict", None if kind is None else VerdictKind(kind).value)

    def set_note(self, cid: CandidateId, text: str) -> Change | None:
        """Record a note (an empty one clears it), durably; returns None when unchanged."""
        return self._edit(cid, "note", text or None)

    def undo(self) -> Change | None:
        """Undo the latest applied edit (any candidate); None when there is nothing to undo."""
        with self._write() as conn:
            if self._pos == 0:
                return None
            target = self._stack[self._pos - 1]
            cid, field, prev = conn.execute("SELECT cid, action, prev FROM events WHERE seq = ?", (target,)).fetchone()
            seq = self._append(conn, "undo", cid, None, target=target)
            self._point(conn, cid, field, prev)
            self._pos -= 1
            (value,) = conn.execute("SELECT value FROM events WHERE seq = ?", (prev,)).fetchone() if prev else (None,)
        return Change(seq, "undo", cid, field, _decode(field, value))

    def redo(self) -> Change | None:
        """Reapply the edit last undone; None when there is nothing to redo."""
        with self._write() as conn:
            if self._pos == len(self._stack):
                return None
            target = self._stack[self._pos]
            cid, field, value = conn.execute("SELECT cid, action, value FROM events WHERE seq = ?", (target,)).fetchone()
            seq = self._append(conn, "redo", cid, None, target=target)
            self._point(conn, cid, field, target)
            self._pos += 1
        return Change(seq, "redo", cid, field, _decode(field, value))

    @property
    def can_undo(self) -> bool:
        with self._lock:
            return self._pos > 0

    @property
    def can_redo(self) -> bool:
        with self._lock:
            return self._pos < len(self._stack)

    def set_model(self, model: ModelRef | None) -> None:
        """Record which model the reviewer is now looking at (scores keep their own versions)."""
        with self._write() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'model'", (json.dumps(asdict(model) if model else None),))
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
            return CandidateState(_BY_VALUE[verdict], note or "", v_rev, v_time)
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
        """The raw log (all of it, or one candidate's), oldest first: the audit trail."""
        sql = "SELECT seq, time, reviewer, action, cid, value, prev, target FROM events"
        args: tuple = ()
        if cid is not None:
            sql, args = sql + " WHERE cid = ?", (_cid(cid),)
        with self._lock:
            cur = self._conn.execute(sql + " ORDER BY seq", args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    # -- scores cache --------------------------------------------------------------------------

    def store_scores(self, model: ModelRef, cids: Iterable[CandidateId], p_bhb: Iterable[float]) -> None:
        """Cache scores under the model name and version that produced them (replacing older ones)."""
        rows = [(model.name, model.version, _cid(c), float(p)) for c, p in zip(cids, p_bhb, strict=True)]
        with self._write() as conn:
            conn.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", rows)

    def load_scores(self, model_name: str, model_version: str) -> dict[str, float]:
        """Cached P(BHB) by candidate id for exactly this model version (empty when none)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT cid, p_bhb FROM scores WHERE model_name = ? AND model_version = ?", (model_name, model_version)
            ).fetchall()
        return dict(rows)

    def scored_models(self) -> list[ModelRef]:
        """Model name/version pairs with cached scores."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT model_name, model_version FROM scores ORDER BY 1, 2").fetchall()
        return [ModelRef(name, version) for name, version in rows]


def agreement(states: Mapping[str, CandidateState], scores: Mapping[str, float], cut: float = 0.5) -> tuple[int, int]:
    """(agreeing, comparable): verdicts naming a class, on scored candidates, that match the model's call."""
    comparable = agree = 0
    for cid, st in states.items():
        p = scores.get(cid)
        if st.verdict is None or st.verdict.model_class is None or p is None:
            continue
        comparable += 1
        agree += not disagrees(st.verdict, p, cut)
    return agree, comparable
