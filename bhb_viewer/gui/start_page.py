"""The page shown before a list is open: open the demo or a file, or reopen a recent session."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

__all__ = ["StartPage"]


class StartPage(QWidget):
    """Two buttons and the recent sessions; it only says what the person picked."""

    sigOpenDemo = Signal()
    sigOpenDialog = Signal()
    sigOpenPath = Signal(object)  # Path of a recent session

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        title = QLabel("<h2>bhb_viewer</h2>Vet Blue Horizontal Branch star candidates. Open a catalog, "
                       "a data set or a session, drop files here, or start with the demo.")
        title.setWordWrap(True)
        lay.addWidget(title)
        row = QHBoxLayout()
        demo = QPushButton("Open the demo")
        demo.clicked.connect(self.sigOpenDemo)
        other = QPushButton("Open catalog, data set or session…")
        other.clicked.connect(self.sigOpenDialog)
        row.addWidget(demo)
        row.addWidget(other)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addWidget(QLabel("Recent sessions (double-click to reopen):"))
        self.recent_list = QListWidget()
        self.recent_list.itemActivated.connect(
            lambda item: self.sigOpenPath.emit(Path(item.data(Qt.ItemDataRole.UserRole))))
        lay.addWidget(self.recent_list, 1)

    def set_recent(self, paths: list[Path]) -> None:
        """List ``paths`` (newest first) as name and folder."""
        self.recent_list.clear()
        for path in paths:
            item = QListWidgetItem(f"{path.name}  —  {path.parent}")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.recent_list.addItem(item)
