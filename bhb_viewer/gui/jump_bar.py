"""Go to a candidate by id (Ctrl+G or /): a one-line field that opens over the table, with completion."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QWidget

from bhb_viewer.gui.widgets.verdict_panel import FieldEdit

__all__ = ["JumpBar"]

MAX_COMPLETIONS = 12


class JumpBar(QWidget):
    """Hidden until :meth:`open`; Enter asks for the id typed (``sigJump``), Esc closes.

    The review answers through :meth:`show_result`: the bar closes on success and says "no such
    id" otherwise, keeping the text to correct.
    """

    sigJump = Signal(str)
    sigClosed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = FieldEdit("candidate id (Enter goes, Esc closes)")
        self.message = QLabel("")
        self.message.setStyleSheet("color: #c0392b")
        self._ids = QStringListModel(self)
        self._pending_ids = None
        completer = QCompleter(self._ids, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setMaxVisibleItems(MAX_COMPLETIONS)
        self.edit.setCompleter(completer)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Go to"))
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.message)
        self._missed = False  # the last Enter named no candidate: stay open to correct it
        self.edit.returnPressed.connect(self._go)
        self.edit.sigLeave.connect(self._left)
        self.hide()

    def set_ids(self, ids) -> None:
        """The ids to complete (the open list's); the completion list is made when the bar first opens,
        so opening a 100,000-row list does not wait for it."""
        self._pending_ids = ids

    def open(self) -> None:
        if self._pending_ids is not None:
            self._ids.setStringList([str(c) for c in self._pending_ids])
            self._pending_ids = None
        self.message.setText("")
        self._missed = False
        self.show()
        self.edit.setFocus()
        self.edit.selectAll()

    def close_bar(self) -> None:
        self.hide()
        self.sigClosed.emit()

    def show_result(self, found: bool) -> None:
        self._missed = not found
        if found:
            self.close_bar()
        else:
            self.message.setText(f"no candidate {self.edit.text().strip()!r} in this list")

    def _go(self) -> None:
        text = self.edit.text().strip()
        if text:
            self.sigJump.emit(text)

    def _left(self) -> None:
        """Enter (after ``returnPressed``) or Esc in the field: close, unless Enter just missed."""
        if self._missed:
            self._missed = False
        else:
            self.close_bar()
