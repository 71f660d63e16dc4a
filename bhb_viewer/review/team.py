"""Team vetting and the blind audit over one review, without Qt.

:class:`TeamReview` sits beside a :class:`~bhb_viewer.review.Review`: for a merged session it knows
every reviewer's verdict, the conflicts and the agreement, and walks the conflicts not yet resolved
(a resolution is simply a verdict of the person reviewing, written through the review as any
other); for a blind audit it draws the sample, says while the scores must stay hidden, and walks
the sample in its random order. It also watches the session file for another window: it warns
when one is writing, keeps this window's writer heartbeat, and re-reads what the other one wrote.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent
from bhb_viewer.core.sessions.audit import AuditPlan, AuditResult, audit_result, load_audit, start_audit
from bhb_viewer.core.sessions.merge import CONFLICT_KINDS, MergeReport, merge_report
from bhb_viewer.core.sessions.selection_function import (
    AuditEvidence,
    AuditSelection,
    audit_evidence,
    audit_selection_function,
)
from bhb_viewer.core.sessions.verdicts import CandidateState, Session, VerdictKind
from bhb_viewer.review.events import Event
from bhb_viewer.review.jobs import JobKind

if TYPE_CHECKING:
    from bhb_viewer.review.review import Review
    from bhb_viewer.review.rows import CandidateRows

log = logging.getLogger(__name__)

__all__ = ["TeamReview", "selection_function_task", "writers_warning"]


def writers_warning(session: Session) -> tuple[str, str] | None:
    """(title, text) of the warning when another live window writes ``session``, else None."""
    others = session.writers.others()
    if not others:
        return None
    who = "; ".join(f"{w.reviewer} (process {w.pid} on {w.host}, since {w.opened[:19].replace('T', ' ')})"
                    for w in others)
    text = (f"{session.path.name} is also open for writing by {who}. Both windows can record verdicts: each "
            "undo takes back only its own reviewer's edits and never another's later verdict, and this "
            "window shows the other's verdicts as they arrive.")
    return "This session is open in another window", text


def selection_function_task(evidence: AuditEvidence):
    """The audit's selection function (:func:`~bhb_viewer.core.sessions.selection_function.audit_selection_function`)
    as a background job: it reads the whole list and, for a data set, the S/N of every spectrum."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[AuditSelection]:
        progress(ProgressEvent("selection", 0, 1, "selection function of the audit"))
        result = audit_selection_function(evidence)
        cancel.check()
        progress(ProgressEvent("selection", 1, 1, f"{len(result.table)} bins"))
        yield result

    return fn


HIDE_META = "audit_scores_hidden"  # session meta: the person's last Hide scores choice during an audit

class TeamReview:
    """Merged-session conflicts, agreement and the blind audit of one :class:`Review`.

    Parameters
    ----------
    review : Review
        The review it follows (re-read whenever a list is opened).

    Attributes
    ----------
    changed : Event
        ``()``: conflicts, agreement or the audit changed; a view re-reads :meth:`status_text` etc.
    reviews : dict
        Reviewer -> candidate id -> state, of a merged session (empty otherwise).
    report : MergeReport or None
        Conflicts and κ among those reviewers.
    plan : AuditPlan or None
        The session's audit, if one was started.
    """

    def __init__(self, review: Review) -> None:
        self.review = review
        self.changed = Event("team state changed")
        self.reviews: dict[str, dict[str, CandidateState]] = {}
        self.report: MergeReport | None = None
        self.plan: AuditPlan | None = None
        self._result: tuple[tuple[int, int], AuditResult] | None = None  # audit_result() for a session revision
        review.events.opened.connect(self._opened)
        review.events.saved.connect(lambda cid, what: self.changed.emit())
        review.nav.moves["conflict"] = self._conflict_move
        review.nav.moves["audit"] = self._audit_move

    @property
    def session(self) -> Session | None:
        return self.review.session

    @property
    def audit_mode(self) -> bool:
        """Scores are withheld from the person (the review's :class:`~bhb_viewer.review.mode.ReviewMode`)."""
        return self.review.mode.scores_hidden

    def _opened(self, source: object, references: object) -> None:
        session = self.session
        if session is None:
            return
        self.reviews = session.reviews()
        self.report = merge_report(self.reviews) if len(self.reviews) >= 2 else None
        self.plan = load_audit(session)
        self._result = None
        result = self.audit_result()
        hidden = result is not None and result.n_pending > 0 and bool(session.get_meta(HIDE_META, True))
        self.review.mode.hide_scores(hidden)
        warning = writers_warning(session)
        if warning is not None:
            self.review.events.error.emit(*warning)
        self.changed.emit()

    # -- merged sessions -------------------------------------------------------------------------
    @property
    def merged(self) -> bool:
        """Whether the open session is a merge of several reviewers."""
        return self.report is not None

    def reviewer_verdicts(self, cid: str) -> list[tuple[str, VerdictKind | None]]:
        """Each merged reviewer's verdict on ``cid`` (None where they gave none), in merge order."""
        return [(name, st[cid].verdict if cid in st else None) for name, st in self.reviews.items()]

    def conflict(self, cid: str) -> str | None:
        """The conflict kind among the reviewers on ``cid`` (a key of CONFLICT_KINDS), or None."""
        return self.report.conflicts.get(cid) if self.report else None

    def resolution(self, cid: str) -> CandidateState | None:
        """The verdict recorded in the merged session itself (the resolution), or None."""
        state = self.review.actions.states.get(cid)
        return state if state is not None and state.verdict is not None else None

    def unresolved(self) -> list[str]:
        """Conflicts without a resolution yet, in id order."""
        if self.report is None:
            return []
        return [cid for cid in self.report.conflicts if self.resolution(cid) is None]

    def next_conflict(self) -> int:
        """Show the next unresolved conflict after the candidate on show (list order, wrapping; the
        navigator's ``conflict`` move); one the filter hides is shown with the filter cleared.

        Returns
        -------
        int
            Its source row, or -1 when every conflict is resolved (nothing moves).
        """
        return self._go("conflict", self.unresolved())

    def _conflict_move(self, rows: CandidateRows, view: int) -> int:
        """Navigator move: the view row of the first unresolved conflict after ``view``, wrapping."""
        row_of = self.review.actions.row_of_id
        shown = sorted(v for c in self.unresolved() if c in row_of and (v := rows.view_row(row_of[c])) >= 0)
        later = [v for v in shown if v > view]
        return later[0] if later else shown[0] if shown else -1

    def _go(self, move: str, ids: list[str]) -> int:
        """Take ``move``; when the filter hides every candidate it could reach, show the first of ``ids``."""
        row = self.review.browser.navigate(move)
        row_of = self.review.actions.row_of_id
        hidden = [row_of[c] for c in ids if c in row_of]
        if row < 0 and hidden:
            row = hidden[0]
            self.review.browser.show_row(row)
        return row

    # -- the blind audit -------------------------------------------------------------------------
    def start_audit(self, half_width: float = 0.05, confidence: float = 0.95, expected: float = 0.5,
                    seed: int | None = None) -> AuditPlan:
        """Draw an audit of the candidates the model accepts at the review's cut, and hide the scores.

        Raises
        ------
        ValueError
            No scores yet, or an audit already stored in this session.
        """
        if self.session is None:
            raise ValueError("open a candidate list first")
        if self.plan is not None:
            raise ValueError(f"this session already holds an audit ({len(self.plan.ids)} candidates at cut "
                             f"{self.plan.cut}); start the next one in a new session")
        scores = self.review.scoring.model.scores()
        if not scores:
            raise ValueError("score the list first: the audit samples what the model accepts")
        self.plan = start_audit(self.session, scores, self.review.rows.cut, half_width=half_width,
                                confidence=confidence, expected=expected, seed=seed)
        self._set_hidden(True)
        return self.plan

    def set_audit_mode(self, on: bool) -> None:
        """Hide (True) or show the scores; only meaningful while an audit exists. The choice is kept
        in the session, so reopening it hides (or shows) them as the person last chose."""
        hidden = bool(on) and self.plan is not None
        session = self.session
        if self.plan is not None and session is not None and not session.read_only and hidden != self.audit_mode:
            session.set_meta(HIDE_META, hidden)
        self._set_hidden(hidden)

    def _set_hidden(self, hidden: bool) -> None:
        """Hide the scores or not; the review records each verdict as blind or not by it, and while they
        are hidden auto-advance walks the audit sample rather than the list."""
        self.review.mode.hide_scores(hidden)
        self.changed.emit()

    def in_audit(self, cid: str) -> bool:
        return self.plan is not None and cid in set(self.plan.ids)

    def next_audit(self) -> int:
        """Show the next audit candidate without a blind verdict, in the sample's random order (the
        navigator's ``audit`` move).

        Returns
        -------
        int
            Its source row, or -1 when the sample is done.
        """
        return self._go("audit", self._audit_todo())

    def _audit_todo(self) -> list[str]:
        if self.plan is None or self.session is None:
            return []
        blind = self.session.verdicts_since(self.plan.start_seq, blind=True)
        return [cid for cid in self.plan.ids if cid not in blind]

    def _audit_move(self, rows: CandidateRows, view: int) -> int:
        """Navigator move: the view row of the first sample member still to review, in sample order."""
        row_of = self.review.actions.row_of_id
        shown = [v for c in self._audit_todo() if c in row_of and (v := rows.view_row(row_of[c])) >= 0]
        return shown[0] if shown else -1

    def audit_result(self) -> AuditResult | None:
        """Purity so far from the blind verdicts, or None without an audit."""
        if self.plan is None or self.session is None:
            return None
        revision = self.session.revision  # one indexed look-up; the result is recomputed only after a write
        if self._result is None or self._result[0] != (id(self.plan), revision):
            self._result = ((id(self.plan), revision), audit_result(self.session, self.plan))
        return self._result[1]

    def selection_function(self, on_result: Callable[[AuditSelection], None],
                           on_error: Callable[[str], None]) -> bool:
        """Compute the audit's selection function in the background, the same numbers as
        ``bhb sessions audit --selection-function``; the session is read now (quick), the list and its
        spectra in the job.

        Parameters
        ----------
        on_result : callable
            Called with the :class:`~bhb_viewer.core.sessions.selection_function.AuditSelection` on the review's thread.
        on_error : callable
            Called with the message when the list cannot be read.

        Returns
        -------
        bool
            False (and nothing started) without an audit.
        """
        if self.plan is None or self.session is None:
            return False
        events = self.review.events
        self.review.runner.submit(JobKind.SELECTION, selection_function_task(audit_evidence(self.session, self.plan)),
                                  on_batch=on_result, on_progress=events.progress.emit, on_error=on_error,
                                  on_done=lambda completed: events.work_done.emit())
        return True

    # -- status --------------------------------------------------------------------------------
    def status_text(self) -> str:
        """'alice, bob · Cohen κ 0.45 on 10 · 3 of 4 conflicts open · audit 20/93, purity 0.85 [0.74, 0.92]'."""
        parts = []
        if self.report is not None:
            r = self.report
            kappa = "κ undefined" if math.isnan(r.kappa) else f"{r.kappa_method.title()} κ {r.kappa:.2f}"
            parts.append(f"{', '.join(r.reviewers)} · {kappa} on {r.n_common} · "
                         f"{len(self.unresolved())} of {len(r.conflicts)} conflicts open")
        result = self.audit_result()
        if result is not None and self.plan is not None:
            done = result.n_sample - result.n_pending
            text = f"audit {done}/{result.n_sample}"
            if result.n_judged:
                text += f", purity {result.purity:.2f} [{result.low:.2f}, {result.high:.2f}]"
            parts.append(text + (" · scores hidden" if self.audit_mode else ""))
        return " · ".join(parts)

    @staticmethod
    def conflict_text(kind: str | None) -> str:
        return "" if kind is None else CONFLICT_KINDS[kind]

    # -- another window on the same session ------------------------------------------------------
    def poll(self) -> list[str]:
        """Take in what another window wrote since the last poll; returns the candidate ids refreshed."""
        session = self.session
        if session is None:
            return []
        changed = session.poll()
        actions = self.review.actions
        for cid in changed:
            state = session.state(cid)
            if state is None:
                actions.states.pop(cid, None)
            else:
                actions.states[cid] = state
            row = actions.row_of_id.get(cid, -1)
            if row >= 0:
                actions.rows.set_human(row, state.verdict if state else None, state.note if state else "")
                self.review.events.candidate_changed.emit(row)
        if changed:
            self.review.events.counts_changed.emit(actions.counts())
            self.review.events.undo_changed.emit(actions.can_undo, actions.can_redo)
            self.changed.emit()
        return changed

    def heartbeat(self) -> None:
        """Tell other windows this one is still open (call every ``core.sessions.verdicts.HEARTBEAT_S``)."""
        if self.session is not None:
            self.session.writers.heartbeat()
