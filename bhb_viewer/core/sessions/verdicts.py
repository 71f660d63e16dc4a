"""A review session: one SQLite file holding the verdicts on a catalog's candidates, who is writing
them, and the model scores shown beside them.

The vocabulary (verdict kinds, references, states, changes) is in ``core.sessions.verdict_types`` and
re-exported here. :class:`Session` opens or creates the file, holds its metadata and merged reviews,
and hands out the parts that share its one connection (``core.sessions.session_db``):

* ``log``: :class:`~bhb_viewer.core.sessions.verdict_log.VerdictLog`, the verdicts and notes with undo and
  redo per reviewer (its edits and reads are also :class:`Session`'s own methods);
* ``writers``: :class:`~bhb_viewer.core.sessions.session_writers.WriterRegistry`, the handles open for writing;
* ``scores``: :class:`~bhb_viewer.core.sessions.score_cache.ScoreCache`, the model scores.

Each part's module says who writes its tables from which thread; the schema and its migrations are
in ``core.sessions.session_schema``. Besides them the file holds

* ``meta``: format, reviewer, creation time, the catalog reference and the model in use, and keys of
  the session's own (JSON values); written by the GUI thread (the model in view, the hide-scores
  switch, an audit plan) and by ``bhb sessions``;
* ``reviews``: (merged sessions only) every source reviewer's verdict in force, written once by
  ``core.sessions.merge``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions import session_schema
from bhb_viewer.core.sessions.score_cache import ScoreCache
from bhb_viewer.core.sessions.session_db import SessionDB
from bhb_viewer.core.sessions.session_writers import HEARTBEAT_S, STALE_S, WriterRegistry
from bhb_viewer.core.sessions.verdict_log import EDIT_ACTIONS, VerdictLog
from bhb_viewer.core.sessions.verdict_types import (
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
    now_stamp,
)

__all__ = [
    "EDIT_ACTIONS", "FORMAT_NAME", "FORMAT_VERSION", "HEARTBEAT_S", "MODEL_CLASS", "STALE_S", "CandidateId",
    "CandidateState", "CatalogRef", "Change", "Edit", "ModelRef", "Session", "VerdictKind", "Writer", "agreement",
    "disagrees", "model_call",
]

FORMAT_NAME = "bhb-session"
FORMAT_VERSION = 1  # raised only when older releases could not read the file (see core.sessions.session_schema)
_RESERVED_META = frozenset({"format", "format_version", "reviewer", "created", "catalog", "model"})


class Session:
    """One review session file. Create with :meth:`create`, reopen with :meth:`open`; use as a context manager.

    Every verdict and note is an event appended to the file (WAL, synchronous FULL) the moment it
    is made, so a crash loses nothing that was shown as saved; undo and redo are events too, and
    act only on the reviewer's own events.

    Parameters
    ----------
    db : SessionDB
        The file's connection, its schema current (made by :meth:`create` / :meth:`open`).
    meta : dict
        The file's ``meta`` table, decoded.
    reviewer : str, optional
        Who records verdicts through this handle (default: the session's owner).
    """

    def __init__(self, db: SessionDB, meta: dict[str, Any], reviewer: str | None = None):
        self._db = db
        self.path = db.path
        self.read_only = db.read_only
        self.reviewer: str = reviewer or meta["reviewer"]
        self.owner: str = meta["reviewer"]
        self.created: str = meta["created"]
        self.catalog = CatalogRef(**meta["catalog"])
        self.model: ModelRef | None = ModelRef(**meta["model"]) if meta.get("model") else None
        self.log = VerdictLog(db, self.reviewer)
        self.writers = WriterRegistry(db, self.reviewer)
        self.scores = ScoreCache(db)
        if not db.read_only:
            self.writers.register()

    # -- opening -------------------------------------------------------------------------------

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
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "reviewer": reviewer,
            "created": now_stamp(),
            "catalog": asdict(catalog),
            "model": asdict(model) if model else None,
        }
        db = SessionDB(path)
        db.prepare()
        with db.transaction() as conn:  # tables and meta together: a file is a session or not there
            session_schema.upgrade(conn, path)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        return cls(db, meta)

    @classmethod
    def open(cls, path: str | os.PathLike, reviewer: str | None = None, read_only: bool = False) -> Session:
        """Reopen a session with its verdicts, notes and undo position; ``reviewer`` overrides who writes next.

        A file from an older release is upgraded in place (see ``core.sessions.session_schema``), read-only or not.
        """
        path = Path(path)
        if not path.is_file():
            raise BadInputError(path, "no such session file")
        db = SessionDB(path, read_only)
        try:
            meta = _read_meta(db)  # before anything is written: a stranger's file stays as it was
            db.prepare()
            db.upgrade()
            return cls(db, meta, reviewer)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise BadInputError(path, f"not a readable session file ({exc})") from exc
        except BadInputError:
            db.close()
            raise

    def close(self) -> None:
        self.writers.unregister()
        self._db.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the verdict log (see VerdictLog) ---------------------------------------------------------

    def set_verdict(self, cid: CandidateId, kind: VerdictKind | None, blind: bool = False) -> Change | None:
        """:meth:`VerdictLog.set_verdict`: record (None: clear) a verdict, ``blind`` when the scores were hidden."""
        return self.log.set_verdict(cid, kind, blind)

    def set_note(self, cid: CandidateId, text: str) -> Change | None:
        """:meth:`VerdictLog.set_note`: record a note (an empty one clears it)."""
        return self.log.set_note(cid, text)

    def record_many(self, edits: Iterable[Edit], blind: bool = False) -> int:
        """:meth:`VerdictLog.record_many`: many edits in one transaction; the events written."""
        return self.log.record_many(edits, blind)

    def undo(self) -> Change | None:
        """:meth:`VerdictLog.undo`: undo this reviewer's latest applied edit."""
        return self.log.undo()

    def redo(self) -> Change | None:
        """:meth:`VerdictLog.redo`: reapply this reviewer's edit last undone."""
        return self.log.redo()

    @property
    def can_undo(self) -> bool:
        return self.log.can_undo

    @property
    def can_redo(self) -> bool:
        return self.log.can_redo

    def state(self, cid: CandidateId) -> CandidateState | None:
        """:meth:`VerdictLog.state`: the candidate's verdict and note in force (None: neither)."""
        return self.log.state(cid)

    def states(self) -> dict[str, CandidateState]:
        """:meth:`VerdictLog.states`: every candidate with a verdict or note, by id."""
        return self.log.states()

    def verdicts_since(self, seq: int, blind: bool = False) -> dict[str, CandidateState]:
        """:meth:`VerdictLog.verdicts_since`: verdicts in force recorded after event ``seq``."""
        return self.log.verdicts_since(seq, blind)

    def counts(self) -> dict[VerdictKind, int]:
        """:meth:`VerdictLog.counts`: how many candidates hold each verdict now."""
        return self.log.counts()

    def events(self, cid: CandidateId | None = None) -> list[dict[str, Any]]:
        """:meth:`VerdictLog.events`: the raw log, oldest first."""
        return self.log.events(cid)

    @property
    def revision(self) -> int:
        """:attr:`VerdictLog.revision`: grows with every event written by anyone."""
        return self.log.revision

    def poll(self) -> list[str]:
        """:meth:`VerdictLog.poll`: candidates another handle changed since the last poll."""
        return self.log.poll()

    # -- extra metadata and merged reviews -----------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under a key of the session's own (e.g. a merge's sources, an audit plan)."""
        if key in _RESERVED_META:
            raise ValueError(f"{key!r} is part of the session format and is not set this way")
        with self._db.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A value stored with :meth:`set_meta` (``default`` when absent)."""
        row = self._db.row("SELECT value FROM meta WHERE key = ?", (key,))
        return default if row is None else json.loads(row[0])

    def set_model(self, model: ModelRef | None) -> None:
        """Record which model the reviewer is now looking at (scores keep their own versions)."""
        with self._db.write() as conn:
            value = json.dumps(asdict(model) if model else None)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'model'", (value,))
        self.model = model

    def store_reviews(self, reviews: Mapping[str, Mapping[str, CandidateState]]) -> None:
        """Keep other reviewers' verdicts in force (reviewer -> cid -> state) beside this session's own log."""
        rows = [
            (reviewer, cid, st.verdict.value if st.verdict else None, st.note, st.time)
            for reviewer, states in reviews.items() for cid, st in states.items()
        ]
        with self._db.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?)", rows)

    def reviews(self) -> dict[str, dict[str, CandidateState]]:
        """Stored reviewers' states, reviewer -> cid -> state (empty for a session that is not a merge)."""
        out: dict[str, dict[str, CandidateState]] = {}
        for reviewer, cid, verdict, note, when in self._db.rows(
                "SELECT reviewer, cid, verdict, note, time FROM reviews ORDER BY reviewer"):
            kind = KIND_BY_VALUE[verdict] if verdict else None
            out.setdefault(reviewer, {})[cid] = CandidateState(kind, note, reviewer, when)
        return out


def _read_meta(db: SessionDB) -> dict[str, Any]:
    """The ``meta`` table decoded, refusing a file that is not a session of this format."""
    try:
        meta = {k: json.loads(v) for k, v in db.rows("SELECT key, value FROM meta")}
    except (sqlite3.OperationalError, ValueError) as exc:
        raise BadInputError(db.path, f"not a session file ({exc})") from exc
    if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
        found = f"{meta.get('format')!r} v{meta.get('format_version')}"
        raise BadInputError(db.path, f"unsupported session format {found}")
    return meta
