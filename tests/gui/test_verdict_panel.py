"""The verdict panel shows the candidate's state and emits what the person asks for."""

from __future__ import annotations

from PySide6.QtCore import Qt

from bhb_viewer.core.sessions.verdicts import CandidateState, VerdictKind
from bhb_viewer.gui.widgets.verdict_panel import BUTTON_KINDS, VerdictPanel


def test_buttons_show_their_keys_and_emit_kinds(qtbot):
    panel = VerdictPanel()
    qtbot.addWidget(panel)
    panel.show_candidate("s1", 0.8)
    for kind in BUTTON_KINDS:
        assert f"[{kind.key}]" in panel.buttons[kind].text()
    with qtbot.waitSignal(panel.sigVerdict) as blocker:
        panel.buttons[VerdictKind.MS_A].click()
    assert blocker.args == [VerdictKind.MS_A]
    with qtbot.waitSignal(panel.sigAcceptModel):
        panel.accept_button.click()


def test_state_score_and_disagreement_are_shown(qtbot):
    panel = VerdictPanel()
    qtbot.addWidget(panel)
    panel.set_model("batmm-lite-sim", "1.0", "cpu")
    state = CandidateState(VerdictKind.BLUE_STRAGGLER, "broad Hδ", "ana", "2026-01-02T03:04:05.000+00:00")
    panel.show_candidate("s7", 0.91, state, disagrees=True)
    assert panel.score_label.text() == "P(BHB) 0.910"
    assert panel.model_label.text() == "model batmm-lite-sim (1.0) on cpu"
    assert panel.buttons[VerdictKind.BLUE_STRAGGLER].isChecked()
    assert not panel.buttons[VerdictKind.BHB].isChecked()
    assert panel.note_edit.text() == "broad Hδ"
    assert not panel.disagree_label.isHidden()
    assert "ana" in panel.verdict_label.text()
    panel.show_candidate("s8", None)
    assert panel.score_label.text() == "P(BHB) —"
    assert not panel.accept_button.isEnabled()
    assert panel.disagree_label.isHidden()
    panel.show_candidate(None)
    assert not panel.buttons[VerdictKind.BHB].isEnabled()


def test_hidden_scores_withhold_the_score_the_mark_enter_and_most_uncertain(qtbot):
    panel = VerdictPanel()
    qtbot.addWidget(panel)
    panel.show_candidate("s7", 0.91, None, disagrees=True, scores_hidden=True)
    assert panel.score_label.text() == "P(BHB) hidden" and panel.disagree_label.isHidden()
    assert not panel.accept_button.isEnabled() and not panel.nav_buttons["uncertain"].isEnabled()
    assert panel.buttons[VerdictKind.BHB].isEnabled() and panel.id_label.text() == "s7"
    panel.show_candidate("s7", 0.91, None, disagrees=True)
    assert panel.score_label.text() == "P(BHB) 0.910" and not panel.disagree_label.isHidden()
    assert panel.accept_button.isEnabled() and panel.nav_buttons["uncertain"].isEnabled()


def test_note_is_emitted_once_on_enter_and_escape_reverts(qtbot):
    panel = VerdictPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_candidate("s1", 0.5)
    notes, left = [], []
    panel.sigNote.connect(notes.append)
    panel.sigNoteDone.connect(lambda: left.append(True))
    panel.note_edit.setFocus()
    qtbot.keyClicks(panel.note_edit, "odd line ")
    qtbot.keyClick(panel.note_edit, Qt.Key.Key_Return)
    assert notes == ["odd line"] and left == [True]
    qtbot.keyClicks(panel.note_edit, "x")
    qtbot.keyClick(panel.note_edit, Qt.Key.Key_Escape)
    assert panel.note_edit.text() == "odd line"
    assert notes == ["odd line"]


def test_long_model_and_verdict_texts_never_widen_the_panel(qtbot):
    from bhb_viewer.core.sessions.verdicts import CandidateState, VerdictKind

    panel = VerdictPanel()
    qtbot.addWidget(panel)
    panel.resize(480, 300)
    panel.show()
    before = panel.minimumSizeHint().width()
    long_name = "batmm-" + "x" * 300
    panel.set_model(long_name, "v" * 80, "cuda:0")
    state = CandidateState(verdict=VerdictKind.BHB, note="", reviewer="a reviewer with a very long name " * 5,
                           time="2026-11-30T01:02:03")
    panel.show_candidate("sim-1", 0.9, state)
    assert panel.minimumSizeHint().width() == before
    assert panel.model_label.toolTip().startswith("model " + long_name)  # the whole text, on hover
    shown = panel.model_label.elided_text()
    assert shown.endswith("…") and len(shown) < len(panel.model_label.text())
