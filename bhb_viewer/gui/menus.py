"""The window's menus. Every action is also a window-wide shortcut, so keys work wherever focus is.

Each action forwards to the review (or to a window method that asks the person first); the key
tables come from :mod:`bhb_viewer.gui.widgets.verdict_panel`, so buttons and menus print the same keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from bhb_viewer.gui.help import HELP_KEYS, JUMP_KEYS
from bhb_viewer.gui.widgets.verdict_panel import ACCEPT_KEY, BUTTON_KINDS, NAV_ACTIONS, REDO_KEY, UNDO_KEY
from bhb_viewer.gui.wizard.models_menu import WizardMenus, install_menus

if TYPE_CHECKING:
    from bhb_viewer.gui.main_window import MainWindow

__all__ = ["Menus", "build_menus"]

SCORE_MOVES = ("uncertain", "least_uncertain")  # moves by the score: off while a blind audit hides it


@dataclass
class Menus:
    """The actions whose state the window reads or sets."""

    offline: QAction  # SDSS → Offline (cache only)
    advance: QAction  # Review → Advance after a verdict
    wizard: WizardMenus  # Models (scoring, the checkpoints), Tools → Train a model…
    score_actions: tuple[QAction, ...]  # Enter and the uncertainty moves: they would tell hidden scores

    def set_scores_hidden(self, hidden: bool) -> None:
        """A blind audit hides the scores: the actions that would tell them are off meanwhile."""
        for action in self.score_actions:
            action.setEnabled(not hidden)


def _add(window: MainWindow, menu: QMenu, text: str, slot: Callable[[], object], shortcut=None) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(lambda _=False: slot())
    menu.addAction(action)
    window.addAction(action)  # shortcuts work wherever focus is in the window
    return action


add_action = _add  # public for the menus other modules add (gui.team_view)


def build_menus(window: MainWindow) -> Menus:
    """Fill the menu bar of ``window``: File, Review, SDSS, Models, Tools, Help."""
    review = window.review
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    _add(window, file_menu, "&Open…", window.open_dialog, QKeySequence.StandardKey.Open)
    _add(window, file_menu, "Open &demo", review.open_demo)
    _add(window, file_menu, "&Export…", window.open_export_dialog, "Ctrl+E")
    known = file_menu.addMenu("&Known stars")
    _add(window, known, "Use &my catalogue…", window.choose_known_catalogue)
    _add(window, known, "&Shipped catalogues only", partial(review.known.use, None))
    file_menu.addSeparator()
    _add(window, file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)

    vet = bar.addMenu("&Review")
    for kind in BUTTON_KINDS:
        _add(window, vet, kind.label, partial(review.vetting.record_verdict, kind), kind.key)
    score_actions = [_add(window, vet, "Accept the model's call", window.accept_model_call, ACCEPT_KEY)]
    vet.addSeparator()
    for action, (text, key) in NAV_ACTIONS.items():
        nav = _add(window, vet, text.strip("◀▶ "), partial(review.browser.navigate, action), key)
        if action in SCORE_MOVES:
            score_actions.append(nav)
    jump = _add(window, vet, "Go to id…", window.open_jump_bar)
    jump.setShortcuts([QKeySequence(k) for k in JUMP_KEYS])
    vet.addSeparator()
    _add(window, vet, "Undo", review.vetting.undo, UNDO_KEY)
    _add(window, vet, "Redo", review.vetting.redo, REDO_KEY)
    advance = _add(window, vet, "Advance after a verdict", lambda: None)
    advance.setCheckable(True)
    advance.setChecked(review.mode.auto_advance)
    advance.toggled.connect(lambda on: setattr(review.mode, "auto_advance", on))

    sdss = bar.addMenu("&SDSS")
    _add(window, sdss, "&Fetch spectrum and cutouts of this candidate", window.fetch_sdss, "Ctrl+F")
    _add(window, sdss, "Fetch spectra and cutouts for the &whole list", window.fetch_sdss_list)
    _add(window, sdss, "Fetch spectra and cutouts for the &selection", window.fetch_sdss_selection, "Ctrl+Shift+F")
    _add(window, sdss, "&Cancel the fetch (what arrived is kept)", window.review.fetch.cancel)
    offline = _add(window, sdss, "&Offline (cache only)", lambda: None)
    offline.setCheckable(True)

    wizard = install_menus(window)

    help_menu = bar.addMenu("&Help")
    keys = _add(window, help_menu, "&Keys", window.show_keys)
    # "?" comes with Shift on most layouts; some platforms report the pair, so both are bound
    keys.setShortcuts([QKeySequence(k) for k in (*HELP_KEYS, "Shift+?")])
    _add(window, help_menu, "&Guide (one page)", window.show_guide)
    return Menus(offline, advance, wizard, tuple(score_actions))
