"""The window's team features: the Team and SAMP menus, the team panel, agreement and audit in the
status bar, and refreshing what another window writes.

The rules live in :class:`bhb_viewer.review.team.TeamReview`; this module only shows them and
forwards what the person asks for. It writes its own widgets only: the team panel it is given,
its status label, its menus. Hiding the scores for a blind audit is the review's
:class:`~bhb_viewer.review.mode.ReviewMode`: the table, the verdict panel, the filter bar, the menus
and the toggles of the model's view each render it themselves
(:mod:`~bhb_viewer.gui.candidate_view`, :mod:`~bhb_viewer.gui.model_view_toggles`).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QInputDialog, QLabel

from bhb_viewer.core.sessions.verdicts import HEARTBEAT_S
from bhb_viewer.gui.menus import add_action
from bhb_viewer.gui.samp_bridge import SampBridge
from bhb_viewer.gui.selection_dialog import SelectionFunctionDialog
from bhb_viewer.gui.widgets.team_panel import TeamPanel
from bhb_viewer.review.team import TeamReview

if TYPE_CHECKING:
    from bhb_viewer.gui.main_window import MainWindow

log = logging.getLogger(__name__)

__all__ = ["TeamView"]

POLL_MS = 2000  # how often the window looks for verdicts another window wrote
NEXT_CONFLICT_KEY, NEXT_AUDIT_KEY = "C", "Ctrl+B"


class TeamView(QObject):
    """The team features of ``window``: its Team and SAMP menus, ``panel`` and a status label.

    Parameters
    ----------
    window : MainWindow
        Its review, its menu bar (the Team and SAMP menus are added), the parent of dialogs.
    panel : TeamPanel
        Where the team's verdicts on the candidate on show and the audit banner are shown (this view
        is its one writer); the window places it.

    Attributes
    ----------
    status_label : QLabel
        Agreement and the audit's progress, for the window to place in its status bar.
    """

    def __init__(self, window: MainWindow, panel: TeamPanel) -> None:
        super().__init__(window)
        self.window = window
        self.review = window.review
        self.team = TeamReview(self.review)
        self.samp = SampBridge(window)
        self.panel = panel
        self.status_label = QLabel("")
        self._build_menus()
        self.poll_timer = QTimer(self, interval=POLL_MS)
        self.poll_timer.timeout.connect(self.poll)
        self.beat_timer = QTimer(self, interval=int(HEARTBEAT_S * 1000))
        self.beat_timer.timeout.connect(self.team.heartbeat)
        self.results_dialog: SelectionFunctionDialog | None = None  # Team → Audit results, while open
        self.team.changed.connect(self.refresh)
        self.review.mode.changed.connect(self.refresh)
        self.review.events.opened.connect(self._opened)
        self.review.nav.changed.connect(lambda row: self.refresh())
        self.review.events.candidate_changed.connect(self._candidate_changed)

    def _build_menus(self) -> None:
        window, bar = self.window, self.window.menuBar()
        team = bar.addMenu("T&eam")
        add_action(window, team, "Next &conflict", self.next_conflict, NEXT_CONFLICT_KEY)
        team.addSeparator()
        add_action(window, team, "Start a blind &audit…", self.ask_start_audit)
        add_action(window, team, "Next in the audit", self.next_audit, NEXT_AUDIT_KEY)
        add_action(window, team, "Audit &results…", self.show_audit_results)
        self.hide_action = add_action(window, team, "&Hide scores (audit mode)", lambda: None)
        self.hide_action.setCheckable(True)
        self.hide_action.toggled.connect(self.team.set_audit_mode)
        samp = bar.addMenu("S&AMP")
        add_action(window, samp, "&Connect to the hub", self.samp.connect_hub)
        add_action(window, samp, "Start a hub and connect", lambda: self.samp.connect_hub(start_hub=True))
        add_action(window, samp, "Send the &table (TOPCAT)", self.samp.send_table)
        add_action(window, samp, "Send the c&utout (DS9, Aladin)", self.samp.send_cutout)
        add_action(window, samp, "Send the &spectrum (SPLAT, specviz)", self.samp.send_spectrum)
        add_action(window, samp, "&Disconnect", self.samp.disconnect_hub)

    # -- what the person asks for ----------------------------------------------------------------
    def next_conflict(self) -> None:
        if self.team.next_conflict() < 0:
            self.review.events.notice.emit("no conflict left to resolve" if self.team.merged else
                                           "not a merged session: no conflicts")

    def ask_start_audit(self) -> None:
        half_width, ok = QInputDialog.getDouble(
            self.window, "Blind purity audit",
            f"Candidates with P(BHB) ≥ {self.review.rows.cut:.3f} are sampled and reviewed with their scores "
            "hidden.\nHalf-width of the 95 % interval of the purity:", 0.05, 0.01, 0.25, 3)
        if ok:
            self.start_audit(half_width)

    def start_audit(self, half_width: float = 0.05, seed: int | None = None) -> None:
        try:
            plan = self.team.start_audit(half_width=half_width, seed=seed)
        except ValueError as exc:
            self.window.show_error("Cannot start the audit", str(exc))
            return
        self.review.events.notice.emit(f"audit: {len(plan.ids)} of {plan.population} accepted candidates")
        self.next_audit()

    def next_audit(self) -> None:
        if self.team.next_audit() < 0:
            self.review.events.notice.emit("the audit sample is done" if self.team.plan else "no audit started")

    def show_audit_results(self) -> None:
        """Team → Audit results: the audit's purity and its selection function (computed in the background)."""
        result = self.team.audit_result()
        if self.team.plan is None or result is None:
            self.window.show_error("No audit", "Start a blind audit first (Team → Start a blind audit…).")
            return
        summary = (f"Blind audit of {result.n_sample} of {self.team.plan.population} candidates with "
                   f"P(BHB) ≥ {self.team.plan.cut}: ")
        summary += (f"purity {result.purity:.3f} [{result.low:.3f}, {result.high:.3f}] ({result.confidence:.0%}, "
                    f"Wilson) from {result.n_bhb}/{result.n_judged} judged blind; " if result.n_judged else
                    "nothing judged yet; ")
        summary += f"{result.n_excluded} unsure/bad data left out, {result.n_pending} still to review."
        if self.results_dialog is not None:
            self.results_dialog.close()
        dialog = self.results_dialog = SelectionFunctionDialog(self.window, summary)
        dialog.show()
        self.team.selection_function(dialog.show_result, dialog.show_error)

    def poll(self) -> None:
        try:
            self.team.poll()
        except sqlite3.Error as exc:  # the file went away or is locked for long: try again at the next tick
            log.warning("could not read the session for changes: %s", exc)

    # -- what changed ----------------------------------------------------------------------------
    def _opened(self, *args: object) -> None:
        self.poll_timer.start()
        self.beat_timer.start()

    def _candidate_changed(self, row: int) -> None:
        if row == self.review.nav.current:
            self.refresh()

    def refresh(self) -> None:
        """The team panel, the status text and the Hide scores tick, for the candidate on show."""
        team = self.team
        hide = team.audit_mode
        if self.hide_action.isChecked() != hide:
            self.hide_action.setChecked(hide)
        self.status_label.setText(team.status_text())
        current = self.review.current()
        if current is None:
            self.panel.show_team(None)
            return
        cid = current[1]
        audit = ""
        result = team.audit_result()
        if team.plan is not None and result is not None and (result.n_pending or team.in_audit(cid)):
            # the banner stays while the audit runs, also on a star outside the sample
            audit = f"blind audit: {result.n_pending} of {result.n_sample} left"
            audit += " · scores hidden" if hide else ""
            overlays = self.review.mode.model_overlays
            if hide and overlays:
                audit += f" · {', '.join(overlays)} shown: verdicts not blind"
            audit += "" if team.in_audit(cid) else " · this star is not in the sample"
        if team.merged:
            kind = team.conflict(cid)
            self.panel.show_team(team.reviewer_verdicts(cid), team.conflict_text(kind), team.resolution(cid), audit)
        else:
            self.panel.show_team(None, audit=audit)

    def close(self) -> None:
        self.poll_timer.stop()
        self.beat_timer.stop()
        self.samp.close()
