"""The verdict panel: the model's score, one button per verdict kind, the note, review navigation.

The panel only shows state and emits what the person asked for; the window writes it to the
session and feeds the result back with :meth:`VerdictPanel.show_candidate` (called by one view,
:class:`~bhb_viewer.gui.candidate_view.CandidateView`, which also says when a blind audit hides the
scores: the panel then withholds the score, the "≠" mark, Enter and "most uncertain"). Keys are owned by the
window (as shortcuts that work wherever focus is, except while typing a note); the panel prints
them on its buttons from the same tables, so what is shown is what works.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bhb_viewer.core.sessions.verdicts import CandidateState, VerdictKind, model_call
from bhb_viewer.gui.widgets.elided_label import ElidedLabel

# Verdicts offered as buttons, in this order; NON_BHB is what Enter records for a low score.
BUTTON_KINDS = (
    VerdictKind.BHB,
    VerdictKind.BLUE_STRAGGLER,
    VerdictKind.MS_A,
    VerdictKind.NON_BHB,
    VerdictKind.OTHER,
    VerdictKind.BAD_DATA,
    VerdictKind.UNSURE,
)
ACCEPT_KEY = "Return"
# navigation action (a move of review.navigation.MOVES) -> (text, key sequence); the panel has buttons for
# NAV_BUTTONS, the Review menu and the key overlay list them all.
NAV_ACTIONS = {
    "previous": ("◀ previous", "K"),
    "next": ("next ▶", "J"),
    "unvetted": ("unvetted", "Space"),
    "uncertain": ("most uncertain", "M"),
    "previous_unvetted": ("previous unvetted", "Shift+Space"),
    "least_uncertain": ("least uncertain", "Shift+M"),
}
NAV_BUTTONS = ("previous", "next", "unvetted", "uncertain")
UNDO_KEY, REDO_KEY = "Ctrl+Z", "Ctrl+Shift+Z"
GRID_COLUMNS = 3
_FIELD_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)


class FieldEdit(QLineEdit):
    """A text field that keeps Enter and Escape from the window's shortcuts while one types in it.

    Enter (after the field's own handling) and Escape (after restoring ``saved_text``) emit
    ``sigLeave``, so the window can hand focus back to the candidate table.
    """

    sigLeave = Signal()

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.saved_text = ""
        self.setPlaceholderText(placeholder)

    def event(self, event: QEvent) -> bool:
        if isinstance(event, QKeyEvent) and event.type() == QEvent.Type.ShortcutOverride and event.key() in _FIELD_KEYS:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.setText(self.saved_text)
            self.sigLeave.emit()
            return
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.sigLeave.emit()


class VerdictPanel(QWidget):
    """Score, verdict buttons, note, navigation and undo for the candidate on show."""

    sigVerdict = Signal(object)  # VerdictKind
    sigAcceptModel = Signal()
    sigNote = Signal(str)
    sigNoteDone = Signal()
    sigNavigate = Signal(str)  # a key of NAV_ACTIONS
    sigUndo = Signal()
    sigRedo = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._p: float | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        self.id_label = QLabel("no candidate")
        self.id_label.setStyleSheet("font-weight: bold; font-size: 13pt")
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.score_label = QLabel("P(BHB) —")
        self.score_label.setStyleSheet("font-size: 16pt")
        # Model and verdict texts can be long (a checkpoint's version, a reviewer's name): elided, so
        # they never widen the window.
        self.model_label = ElidedLabel("no model")
        self.model_label.setStyleSheet("color: #666")
        self.verdict_label = ElidedLabel("unvetted")
        self.verdict_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.disagree_label = QLabel("≠ disagrees with the model")
        self.disagree_label.setStyleSheet("color: white; background: #c0392b; padding: 2px 6px; border-radius: 3px")
        self.disagree_label.setVisible(False)
        header = QHBoxLayout()
        header.addWidget(self.id_label)
        header.addStretch(1)
        header.addWidget(self.score_label)
        layout.addLayout(header)
        line = QHBoxLayout()
        line.addWidget(self.model_label)
        line.addStretch(1)  # the texts keep their width while there is room, and elide when there is not
        line.addWidget(self.disagree_label)
        line.addWidget(self.verdict_label)
        layout.addLayout(line)
        # Every modality's score side by side, and which head scored a star with one modality only
        self.heads_label = QLabel("")
        self.heads_label.setStyleSheet("color: #444")
        self.heads_label.setVisible(False)
        layout.addWidget(self.heads_label)
        # The physical second opinion: the engine-template fit (core.science.stellar_fit)
        self.fit_label = QLabel("")
        self.fit_label.setStyleSheet("color: #444")
        self.fit_label.setVisible(False)
        layout.addWidget(self.fit_label)
        # Why the score may not be trusted: few valid pixels, a resolution far from SDSS's, the trust
        # flags (review.quality, core.science.trust)
        self.quality_label = QLabel("")
        self.quality_label.setWordWrap(True)
        self.quality_label.setStyleSheet("color: #b35900")
        self.quality_label.setVisible(False)
        layout.addWidget(self.quality_label)

        box = QGroupBox("verdict")
        grid = QGridLayout(box)
        grid.setContentsMargins(4, 4, 4, 4)
        self.buttons: dict[VerdictKind, QPushButton] = {}
        for i, kind in enumerate(BUTTON_KINDS):
            button = QPushButton(f"{kind.label}  [{kind.key}]")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, k=kind: self.sigVerdict.emit(k))
            grid.addWidget(button, i // GRID_COLUMNS, i % GRID_COLUMNS)
            self.buttons[kind] = button
        self.accept_button = QPushButton("accept model  [Enter]")
        self.accept_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.accept_button.clicked.connect(self.sigAcceptModel)
        grid.addWidget(self.accept_button, len(BUTTON_KINDS) // GRID_COLUMNS, len(BUTTON_KINDS) % GRID_COLUMNS)
        layout.addWidget(box)

        self.note_edit = FieldEdit("note (Enter saves)")
        self.note_edit.editingFinished.connect(self._note_finished)
        self.note_edit.sigLeave.connect(self.sigNoteDone)
        note_row = QHBoxLayout()
        note_row.addWidget(self.note_edit, 1)
        layout.addLayout(note_row)

        nav = QHBoxLayout()
        self.nav_buttons: dict[str, QPushButton] = {}
        for action in NAV_BUTTONS:
            text, key = NAV_ACTIONS[action]
            button = QPushButton(f"{text} [{key}]")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _=False, a=action: self.sigNavigate.emit(a))
            nav.addWidget(button)
            self.nav_buttons[action] = button
        self.undo_button = QPushButton("undo")
        self.redo_button = QPushButton("redo")
        undo_redo = ((self.undo_button, self.sigUndo, UNDO_KEY), (self.redo_button, self.sigRedo, REDO_KEY))
        for button, signal, tip in undo_redo:
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolTip(tip)
            button.clicked.connect(signal)
            note_row.addWidget(button)
        layout.addLayout(nav)
        self.show_candidate(None)

    def set_model(self, name: str | None, version: str | None = None, device: str | None = None) -> None:
        if name is None:
            self.model_label.setText("no model")
            return
        text = f"model {name} ({version})" if version else f"model {name}"
        self.model_label.setText(text + (f" on {device}" if device else ""))

    def show_candidate(
        self,
        cid: str | None,
        p_bhb: float | None = None,
        state: CandidateState | None = None,
        disagrees: bool = False,
        cut: float = 0.5,
        scores_hidden: bool = False,
    ) -> None:
        """Show one candidate (None: nothing selected) with its score, the verdict in force, and what
        Enter would record at the review's decision ``cut``; ``scores_hidden`` (a blind audit) withholds
        the score, the disagreement and what would tell them (Enter, "most uncertain")."""
        enabled = cid is not None
        self._p = p_bhb if p_bhb is not None and p_bhb == p_bhb and not scores_hidden else None
        self.id_label.setText(cid if cid is not None else "no candidate")
        self.nav_buttons["uncertain"].setEnabled(not scores_hidden)
        if scores_hidden:
            self.score_label.setText("P(BHB) hidden")
            self.accept_button.setToolTip("off while the scores are hidden")
        elif self._p is None:
            self.score_label.setText("P(BHB) —")
            self.accept_button.setToolTip("not scored yet")
        else:
            self.score_label.setText(f"P(BHB) {self._p:.3f}")
            self.accept_button.setToolTip(f"records '{model_call(self._p, cut).label}'")
        kind = state.verdict if state else None
        for k, button in self.buttons.items():
            button.setChecked(k is kind)
            button.setEnabled(enabled)
        self.accept_button.setEnabled(enabled and self._p is not None)
        if state is None or state.verdict is None:
            self.verdict_label.setText("unvetted")
        else:
            when = state.time[:19].replace("T", " ")
            self.verdict_label.setText(f"{state.verdict.label} — {state.reviewer}, {when}")
        self.disagree_label.setVisible(disagrees and not scores_hidden)
        note = state.note if state else ""
        self.note_edit.saved_text = note
        self.note_edit.setText(note)
        self.note_edit.setEnabled(enabled)

    def set_modality_scores(self, p_fusion: float, p_spectrum: float, p_image: float, score_from: str) -> None:
        """P(BHB) of the whole model, spectrum and image side by side; for a star with one modality, the head that
        scored it. The whole model's is "all inputs", not "fusion": with the Balmer-diagnostics branch it is the
        mean of the fusion's and the branch's.

        Hidden when the model gave no head's score (a checkpoint without trusted heads, a single-modality model).
        """
        if not (np.isfinite(p_spectrum) or np.isfinite(p_image)):
            self.heads_label.setVisible(False)
            return
        colours = score_from == "spectrum+photometry"  # a model that reads colours, on a star without cutouts
        fusion = p_fusion if score_from == "fusion" or colours else float("nan")
        parts = [f"{name} {p:.3f}" if np.isfinite(p) else f"{name} —"
                 for name, p in (("spectrum+colours" if colours else "all inputs", fusion), ("spectrum", p_spectrum),
                                 ("image", p_image))]
        text = "P(BHB): " + " · ".join(parts)
        if score_from in ("spectrum", "image"):
            missing = "cutouts" if score_from == "spectrum" else "spectrum"
            text += f"; scored by the {score_from} head alone (no {missing})"
        elif colours:
            text += "; scored from the spectrum and colours (catalogue, or synthesised from the spectrum; no cutouts)"
        self.heads_label.setText(text)
        self.heads_label.setVisible(True)

    def set_quality(self, flags: Sequence[str]) -> None:
        """The warnings about the spectrum of the candidate on show (none: the line is hidden)."""
        self.quality_label.setText("\n".join(f"⚠ {flag}" for flag in flags))
        self.quality_label.setVisible(bool(flags))

    def set_fit(self, text: str) -> None:
        """The template fit of the candidate on show, in words ('' hides the line)."""
        self.fit_label.setText(text)
        self.fit_label.setVisible(bool(text))

    def set_undo_state(self, can_undo: bool, can_redo: bool) -> None:
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)

    def _note_finished(self) -> None:
        text = self.note_edit.text().strip()
        if text != self.note_edit.saved_text:
            self.note_edit.saved_text = text
            self.sigNote.emit(text)
