"""The team panel above the verdict buttons: each reviewer's verdict on the candidate on show, the
conflict between them and its resolution (merged sessions), and the blind-audit banner."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from bhb_viewer.core.sessions.verdicts import CandidateState, VerdictKind

__all__ = ["TeamPanel"]

_BADGE = "color: white; background: {}; padding: 2px 6px; border-radius: 3px"
CONFLICT_COLOUR, AGREED_COLOUR, AUDIT_COLOUR = "#c0392b", "#27ae60", "#34495e"


class TeamPanel(QFrame):
    """Shows what the team said about one candidate; hidden when there is nothing to show."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.audit_label = QLabel("")
        self.audit_label.setStyleSheet(_BADGE.format(AUDIT_COLOUR))
        self.conflict_label = QLabel("")
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setColumnStretch(1, 1)
        self.resolution_label = QLabel("")
        for widget in (self.audit_label, self.conflict_label):
            layout.addWidget(widget)
        layout.addLayout(self.grid)
        layout.addWidget(self.resolution_label)
        self.reviewer_labels: list[tuple[QLabel, QLabel]] = []
        self.show_team(None)

    def show_team(self, verdicts: list[tuple[str, VerdictKind | None]] | None, conflict: str = "",
                  resolution: CandidateState | None = None, audit: str = "") -> None:
        """One candidate: ``verdicts`` per reviewer (None: not a merged session), the conflict text
        ('' when they agree), the merged session's own verdict, and the audit banner ('' for none)."""
        self.audit_label.setText(audit)
        self.audit_label.setVisible(bool(audit))
        merged = verdicts is not None
        verdicts = verdicts or []
        while len(self.reviewer_labels) < len(verdicts):  # labels are reused: one row per reviewer
            pair = (QLabel(), QLabel())
            self.grid.addWidget(pair[0], len(self.reviewer_labels), 0)
            self.grid.addWidget(pair[1], len(self.reviewer_labels), 1)
            self.reviewer_labels.append(pair)
        for i, (name_label, verdict_label) in enumerate(self.reviewer_labels):
            shown = i < len(verdicts)
            name_label.setVisible(shown)
            verdict_label.setVisible(shown)
            if shown:
                name, kind = verdicts[i]
                name_label.setText(name)
                verdict_label.setText(kind.label if kind else "—")
                verdict_label.setStyleSheet("font-weight: bold" if kind else "color: #888")
        vetted = [k for _, k in verdicts if k is not None]
        if conflict:
            self.conflict_label.setText(f"conflict: {conflict}")
            self.conflict_label.setStyleSheet(_BADGE.format(CONFLICT_COLOUR))
        else:
            self.conflict_label.setText("reviewers agree" if len(vetted) > 1 else "")
            self.conflict_label.setStyleSheet(_BADGE.format(AGREED_COLOUR))
        self.conflict_label.setVisible(merged and bool(self.conflict_label.text()))
        if resolution is not None and resolution.verdict is not None:
            self.resolution_label.setText(f"resolved: {resolution.verdict.label} — {resolution.reviewer}")
        else:
            self.resolution_label.setText("not resolved yet" if conflict else "")
        self.resolution_label.setVisible(merged and bool(self.resolution_label.text()))
        self.setVisible(merged or bool(audit))

    def reviewer_texts(self) -> list[tuple[str, str]]:
        """(reviewer, verdict label) pairs on show, for tests and screenshots."""
        return [(a.text(), b.text()) for a, b in self.reviewer_labels if not a.isHidden()]
