"""Verdicts and notes: written through the session the moment they are made, undone and redone.

The session (SQLite) is the record; :class:`VerdictActions` keeps the state in force per
candidate in memory and mirrors it into the list's columns, so the table, the counts and the
disagreement marks follow every write, undo and redo.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bhb_viewer.core.sessions.verdicts import CandidateState, Change, Session, VerdictKind, agreement
from bhb_viewer.review.events import Event
from bhb_viewer.review.rows import CandidateRows

log = logging.getLogger(__name__)

__all__ = ["Counts", "VerdictActions"]


@dataclass(frozen=True)
class Counts:
    """How far the review is: candidates vetted, and how often the person agrees with the model.

    Attributes
    ----------
    vetted, total : int
        Candidates with a verdict, candidates in the list.
    agree, comparable : int
        Verdicts that agree with the model's call at the cut, of those that can be compared
        (scored, and a BHB / non-BHB kind of verdict).
    """

    vetted: int
    total: int
    agree: int
    comparable: int


class VerdictActions:
    """Write verdicts and notes of one session; undo and redo; count.

    Parameters
    ----------
    rows : CandidateRows
        The list whose verdict and note columns mirror the session.

    Attributes
    ----------
    changed : Event
        ``(cid, row, what)`` after a write landed: what is 'verdict:<kind>', 'note', 'undo' or
        'redo'; row is the source row (-1 when the candidate is not in this list).
    failed : Event
        ``(title, text)`` when a write did NOT land (full disk, locked file).
    last_failed : bool
        Whether the last write failed, so the caller stays on its candidate rather than moving on.
    """

    def __init__(self, rows: CandidateRows) -> None:
        self.rows = rows
        self.session: Session | None = None
        self.states: dict[str, CandidateState] = {}
        self.row_of_id: dict[str, int] = {}
        self.changed = Event("verdict written")
        self.failed = Event("verdict failed")
        self.last_failed = False

    def attach(self, session: Session, ids: np.ndarray) -> None:
        """Review ``session`` over the candidates ``ids`` (source order); the table shows its verdicts.

        Parameters
        ----------
        session : Session
            The open verdict session.
        ids : ndarray of str
            Candidate id of each source row.
        """
        self.session = session
        self.row_of_id = {str(cid): i for i, cid in enumerate(ids)}
        self.states = session.states()
        self.rows.set_all_human({self.row_of_id[c]: (s.verdict, s.note) for c, s in self.states.items()
                                 if c in self.row_of_id})

    def set_verdict(self, cid: str, kind: VerdictKind | None, blind: bool = False) -> Change | None:
        """Record ``kind`` (None: back to unvetted) for ``cid``; durable when it returns.

        Parameters
        ----------
        cid : str
            Candidate id.
        kind : VerdictKind or None
        blind : bool
            The scores were hidden when the person gave it (recorded with the verdict).

        Returns
        -------
        Change or None
            What changed; None when it was already the verdict or the write failed (see ``failed``).
        """
        what = f"verdict:{kind.value if kind else 'none'}"
        return self._write(lambda session: session.set_verdict(cid, kind, blind), what)

    def set_note(self, cid: str, text: str) -> Change | None:
        """Record the note ``text`` ('' clears it) for ``cid``.

        Parameters
        ----------
        cid : str
        text : str

        Returns
        -------
        Change or None
            None when the note is unchanged or the write failed.
        """
        return self._write(lambda session: session.set_note(cid, text), "note")

    def undo(self) -> Change | None:
        """Undo the last write of this session (also one made before it was reopened).

        Returns
        -------
        Change or None
            The field restored; None when there is nothing to undo.
        """
        return self._write(Session.undo, "undo")

    def redo(self) -> Change | None:
        """Redo the last undone write.

        Returns
        -------
        Change or None
            The field redone; None when there is nothing to redo.
        """
        return self._write(Session.redo, "redo")

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has something to undo."""
        return self.session is not None and self.session.can_undo

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` has something to redo."""
        return self.session is not None and self.session.can_redo

    def _write(self, call: Callable[[Session], Change | None], what: str) -> Change | None:
        """Write through the session, then mirror the candidate's new state; None if nothing changed."""
        self.last_failed = False
        if self.session is None:
            return None
        try:
            change = call(self.session)
        except Exception as exc:  # a full disk or a locked file must not end the review
            log.warning("%s of %s was not saved: %s: %s", what, self.session.path, type(exc).__name__, exc)
            self.last_failed = True
            text = f"{type(exc).__name__}: {exc}\n{self.session.path}\nThe candidate stays on show; try again."
            self.failed.emit("The verdict was NOT saved", text)
            return None
        if change is None:
            return None
        state = self.session.state(change.cid)
        if state is None:
            self.states.pop(change.cid, None)
        else:
            self.states[change.cid] = state
        row = self.row_of_id.get(change.cid, -1)
        if row >= 0:
            self.rows.set_human(row, state.verdict if state else None, state.note if state else "")
        self.changed.emit(change.cid, row, what)
        return change

    def counts(self) -> Counts:
        """Vetted so far and agreement with the model's call at the list's cut.

        Returns
        -------
        Counts
        """
        p = self.rows.column("p")
        scores = {c: float(p[r]) for c in self.states if (r := self.row_of_id.get(c)) is not None and np.isfinite(p[r])}
        agree, comparable = agreement(self.states, scores, self.rows.cut)
        vetted = sum(1 for s in self.states.values() if s.verdict is not None)
        return Counts(vetted, self.rows.n, agree, comparable)
