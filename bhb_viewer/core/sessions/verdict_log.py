"""The verdict log: every verdict and note as an event, undo and redo per reviewer, the state in force.

Why a log and not a table of current verdicts: every row of the exported catalog must say who
decided, when, and what was undone, and a crash must lose nothing already reported as saved.

``events``   never updated or deleted: edits (``verdict`` / ``note``, with ``prev`` = the edit of
             the same field in force before) and ``undo`` / ``redo`` entries naming the edit they
             undo or redo; replaying it gives the undo stack and position, so reopening a session
             restores them exactly;
``current``  per candidate, the verdict edit and the note edit now in force (a cache of the log,
             written in the same transaction, so ``states()`` is one query).

Undo is per reviewer: each reviewer's undo stack holds only that reviewer's edits, and an undo
(or redo) changes a field only while the edit it reverts is still the one in force, so one
reviewer's undo never reverts another's later verdict (it is recorded, and reported as not applied).

Writes: the GUI thread (``review.actions``: the person's verdicts, notes, undo and redo), or the main
thread of ``bhb sessions import`` and ``bhb sessions merge``. Reads: the GUI thread and its timers
(``review.team`` polls), the export and the audit. A second process writing the same file is noticed
at this handle's next write (the log is replayed again), so two windows on one session do not
corrupt the undo stack; a view polls :meth:`VerdictLog.poll` (cheap when nothing changed) to
refresh what another process wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions.session_db import SessionDB
from bhb_viewer.core.sessions.verdict_types import (
    KIND_BY_VALUE,
    CandidateId,
    CandidateState,
    Change,
    Edit,
    VerdictKind,
    now_stamp,
)

__all__ = ["EDIT_ACTIONS", "VerdictLog"]

EDIT_ACTIONS = ("verdict", "note")


def _decode(field: str, value: str | None) -> VerdictKind | str | None:
    if field == "verdict":
        return None if value is None else VerdictKind(value)
    return value


class VerdictLog:
    """The ``events`` and ``current`` tables, and this handle's reviewer's undo stack over them.

    Parameters
    ----------
    db : SessionDB
        The session's connection (a read-only one refuses every edit).
    reviewer : str
        Whose edits this handle records and whose undo stack it keeps.
    """

    def __init__(self, db: SessionDB, reviewer: str):
        self._db = db
        self.reviewer = reviewer
        self._stack: list[int] = []  # this reviewer's edit seqs on the current undo branch
        self._pos = 0  # edits in _stack[:_pos] are applied
        self._last_seq = 0
        self._replay()
        self._polled = self._last_seq  # poll() reports others' events after this seq
        self._own: set[int] = set()  # seqs this handle wrote since the last poll

    def _replay(self) -> None:
        """Rebuild this reviewer's undo stack and position from the log (also after another process wrote).

        Every reviewer's stack is rebuilt, so an undo or redo that fits no history is caught whoever wrote it.
        """
        stacks: dict[str, tuple[list[int], list[int]]] = {}  # reviewer -> (stack, [pos])
        last = 0
        for seq, reviewer, action, target in self._db.rows(
            "SELECT seq, reviewer, action, target FROM events ORDER BY seq"
        ):
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
                raise BadInputError(self._db.path, f"event {seq}: {action} of {target} does not fit the undo history")
            last = seq
        stack, pos = stacks.get(self.reviewer, ([], [0]))
        self._stack, self._pos, self._last_seq = stack, pos[0], last

    # -- change counter ------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """A counter that grows with every verdict, note, undo or redo written by anyone."""
        return int(self._db.row("SELECT coalesce(max(seq), 0) FROM events")[0])

    def poll(self) -> list[str]:
        """Candidate ids whose verdict or note another handle (any process) changed since the last poll.

        A view calls it on a timer and re-reads those states; the undo stack follows the file too.
        """
        with self._db.lock:
            rows = self._db.rows("SELECT seq, cid FROM events WHERE seq > ? ORDER BY seq", (self._polled,))
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
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction; the in-memory undo stack follows the file if another writer appended."""
        with self._db.lock:
            try:
                with self._db.write() as conn:
                    (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
                    if last != self._last_seq:
                        self._replay()
                    yield conn
            except BaseException:
                self._replay()
                raise

    def _append(self, conn: sqlite3.Connection, action: str, cid: str | None, value: str | None,
                prev: int | None = None, target: int | None = None,
                reviewer: str | None = None, when: str | None = None, blind: bool | None = None) -> int:
        cur = conn.execute(
            "INSERT INTO events (time, reviewer, action, cid, value, "
            "prev, target, blind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                when or now_stamp(), reviewer or self.reviewer, action, cid, value, prev, target,
                None if blind is None else int(blind),
            ),
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
    def _in_force(conn: sqlite3.Connection, cid: str, field: str) -> tuple[int | None, str | None, int | None]:
        """(seq, value, blind) of the edit of a field now in force, all None when there is none."""
        row = conn.execute(f"SELECT e.seq, e.value, e.blind FROM current c JOIN events e ON e.seq = c.{field}_seq "
                           "WHERE c.cid = ?", (cid,)).fetchone()
        return row if row else (None, None, None)

    def _apply(self, conn: sqlite3.Connection, cid: str, field: str, value: str | None,
               reviewer: str | None = None, when: str | None = None, blind: bool | None = None) -> int | None:
        """Append one edit and point the field at it (inside a transaction); None when nothing changes.

        The same verdict given again blind is recorded again when the one in force was not blind.
        """
        prev, old, was_blind = self._in_force(conn, cid, field)
        if old == value and not (blind and prev is not None and was_blind != 1):
            return None
        seq = self._append(conn, field, cid, value, prev=prev, reviewer=reviewer, when=when, blind=blind)
        self._point(conn, cid, field, seq)
        if (reviewer or self.reviewer) == self.reviewer:
            del self._stack[self._pos:]
            self._stack.append(seq)
            self._pos += 1
        return seq

    def _edit(self, cid: CandidateId, field: str, value: str | None, blind: bool | None = None) -> Change | None:
        cid = str(cid)
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
                cid = str(edit.cid)
                verdict = None if edit.verdict is None else VerdictKind(edit.verdict).value
                for field, value in (("verdict", verdict), ("note", edit.note)):
                    if value is not None:
                        written += self._apply(conn, cid, field, value, edit.reviewer, edit.time,
                                               blind if field == "verdict" else None) is not None
        return written

    def _step(self, action: str) -> Change | None:
        """Undo (``action`` "undo") or redo this reviewer's edit next in line; None when there is none.

        Where another reviewer has since changed that field, their verdict stands: the step is
        recorded (so the stack stays in step) but ``applied`` is False.
        """
        undo = action == "undo"
        with self._write() as conn:
            if self._pos == (0 if undo else len(self._stack)):
                return None
            target = self._stack[self._pos - 1 if undo else self._pos]
            cid, field, prev = conn.execute("SELECT cid, action, prev FROM events WHERE seq = ?", (target,)).fetchone()
            seq = self._append(conn, action, cid, None, target=target)
            expected, restored = (target, prev) if undo else (prev, target)
            applied = self._in_force(conn, cid, field)[0] == expected
            if applied:
                self._point(conn, cid, field, restored)
            self._pos += -1 if undo else 1
            value = self._in_force(conn, cid, field)[1]
        return Change(seq, action, cid, field, _decode(field, value), applied)

    def undo(self) -> Change | None:
        """Undo this reviewer's latest applied edit (any candidate); None when there is nothing to undo
        (not applied where another reviewer has changed the field since: their verdict stands)."""
        return self._step("undo")

    def redo(self) -> Change | None:
        """Reapply this reviewer's edit last undone; None when there is nothing to redo (not applied, as
        for undo, where another reviewer has changed the field since)."""
        return self._step("redo")

    @property
    def can_undo(self) -> bool:
        with self._db.lock:
            return self._pos > 0

    @property
    def can_redo(self) -> bool:
        with self._db.lock:
            return self._pos < len(self._stack)

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
        row = self._db.row(self._STATE_SQL + " AND c.cid = ?", (str(cid),))
        return self._state(row) if row else None

    def states(self) -> dict[str, CandidateState]:
        """Every candidate with a verdict or note, keyed by candidate id (as a string)."""
        return {row[0]: self._state(row) for row in self._db.rows(self._STATE_SQL)}

    def verdicts_since(self, seq: int, blind: bool = False) -> dict[str, CandidateState]:
        """Candidates whose verdict in force was recorded after log event ``seq`` (e.g. during a blind
        audit); with ``blind`` only those recorded with the scores hidden."""
        sql = self._STATE_SQL + " AND v.value IS NOT NULL AND c.verdict_seq > ?" + (" AND v.blind = 1" if blind else "")
        return {row[0]: self._state(row) for row in self._db.rows(sql, (int(seq),))}

    def counts(self) -> dict[VerdictKind, int]:
        """How many candidates hold each verdict now (every kind present, zeros included)."""
        rows = self._db.rows("SELECT e.value, count(*) FROM current c JOIN events e ON e.seq = c.verdict_seq "
                             "WHERE e.value IS NOT NULL GROUP BY e.value")
        counts = dict.fromkeys(VerdictKind, 0)
        counts.update({VerdictKind(v): n for v, n in rows})
        return counts

    def events(self, cid: CandidateId | None = None) -> list[dict[str, Any]]:
        """The raw log (all of it, or one candidate's), oldest first: the audit trail, with each verdict's
        ``blind`` (None for a verdict from before that was recorded)."""
        sql = "SELECT seq, time, reviewer, action, cid, value, prev, target, blind FROM events"
        args: tuple[str, ...] = () if cid is None else (str(cid),)
        if cid is not None:
            sql += " WHERE cid = ?"
        with self._db.lock:
            cur = self._db.conn.execute(sql + " ORDER BY seq", args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
