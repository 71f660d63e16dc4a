"""Finding one's way: the key overlay (``?`` or F1) and the one-page guide (Help menu).

The key list is built from the same tables the buttons and menus use
(:mod:`bhb_viewer.gui.widgets.verdict_panel`) and the window's actions, so what the overlay says is what the keys do.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QColor, QKeyEvent, QKeySequence, QPainter, QPaintEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from bhb_viewer.gui.widgets.verdict_panel import ACCEPT_KEY, BUTTON_KINDS, NAV_ACTIONS

__all__ = ["GUIDE_HTML", "HELP_KEYS", "JUMP_KEYS", "GuideDialog", "KeyOverlay", "key_table"]

HELP_KEYS = ("?", "F1")
JUMP_KEYS = ("Ctrl+G", "/")
OVERLAY_SHADE = QColor(0, 0, 0, 200)


def key_table(actions: Iterable[QAction] = ()) -> list[tuple[str, list[tuple[str, str]]]]:
    """(group, [(keys, what they do)]) for every key of the review window.

    Verdicts and moves come from the verdict panel's tables; every other shortcut comes from
    ``actions`` (the window's, menus included), so a key added to a menu shows here without an edit.
    """
    verdicts = [(kind.key, kind.label) for kind in BUTTON_KINDS]
    verdicts.append(("Enter", "accept the model's call at the cut" if ACCEPT_KEY == "Return" else ACCEPT_KEY))
    moves = [(key, text.strip("◀▶ ")) for text, key in NAV_ACTIONS.values()]
    moves.append((" or ".join(JUMP_KEYS), "go to a candidate by id"))
    listed = {kind.key for kind in BUTTON_KINDS} | {key for _text, key in NAV_ACTIONS.values()}
    listed |= {ACCEPT_KEY, *JUMP_KEYS, *HELP_KEYS, "Shift+?"}
    listed = {QKeySequence(k).toString() for k in listed}
    other = [("Enter / Esc in the note", "save / abandon the note")]
    for action in actions:
        keys = [k.toString() for k in action.shortcuts() if not k.isEmpty()]
        if keys and not listed.intersection(keys):
            other.append((" or ".join(keys), action.text().replace("&", "").rstrip("…")))
            listed.update(keys)
    other.append((" or ".join(HELP_KEYS), "this list (any key closes it)"))
    return [("Verdicts", verdicts), ("Moving", moves), ("Other", other)]


def _table_html(actions: Iterable[QAction] = ()) -> str:
    parts = ["<table cellspacing='0' cellpadding='3'>"]
    for group, rows in key_table(actions):
        parts.append(f"<tr><td colspan='2'><h3 style='margin:6px 0 2px 0'>{html.escape(group)}</h3></td></tr>")
        for keys, what in rows:
            parts.append(f"<tr><td align='right'><b><tt>{html.escape(keys)}</tt></b>&nbsp;&nbsp;</td>"
                         f"<td>{html.escape(what)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


class KeyOverlay(QWidget):
    """The keys, drawn over the window on a dark shade; any key or click closes it.

    It is a child of the window covering its central area, so the review stays visible behind it,
    and it takes the keyboard while shown so a verdict key pressed to close it records nothing.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.covered = parent  # the widget it covers (parentWidget() is typed as possibly None)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setStyleSheet("color: white; background: transparent; font-size: 11pt")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay = QVBoxLayout(self)
        lay.addWidget(self.label, 0, Qt.AlignmentFlag.AlignCenter)
        parent.installEventFilter(self)
        self.hide()

    def open(self) -> None:
        """Cover the parent and take the keyboard; the list is built now, from the window's actions."""
        actions = self.window().actions()
        self.label.setText(_table_html(actions) + "<p style='color:#bbb'>any key or click closes this</p>")
        self.setGeometry(self.covered.rect())
        self.raise_()
        self.show()
        self.setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.covered and event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self.covered.rect())
        return False

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:  # the window's shortcuts must not fire under it
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self.close_overlay()

    def mousePressEvent(self, event) -> None:
        self.close_overlay()

    def close_overlay(self) -> None:
        self.hide()
        self.covered.setFocus()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), OVERLAY_SHADE)
        painter.end()


GUIDE_HTML = """
<h2>bhb_viewer in one page</h2>
<p>You have a list of blue halo-star candidates and want a clean sample of Blue Horizontal Branch
stars: trust the model where it is sure, look hard where it is not, and leave with a catalog whose
every row says who decided, when, and on what evidence.</p>
<h3>1. Open a list</h3>
<p>File → Open (or drop files on the window): a catalog (CSV, ECSV, FITS, VOTable) with an id and
RA/Dec or SDSS plate/MJD/fiber, a data set, an SDSS spectrum file, or a session file to go on
where you stopped. The list is scored in the background (cancel from the status bar) by the model
you chose for it, else the one its session was scored with, else your active model (the last one you
chose), else the shipped one. The Models menu ticks that model and says why; a pick there scores the
list and becomes your active model.</p>
<h3>2. Look at the star</h3>
<ul>
<li><b>Spectrum</b>: flux with its ±1σ band, line markers, the model's 7 wavelength segments shaded by
what removing each does to P(BHB) (green towards BHB, red away) and its per-pixel saliency in the band
along the bottom. The cursor readout under the plot gives λ, flux and the nearest line. <i>Range</i>
switches between the model's 4000–9000 Å grid and the file's whole range (Ca II K, Hε and H8 lie below
4000 Å). Drag to pan, wheel to zoom, Reset view.</li>
<li><b>Hδ / Hγ close-ups</b>: the classical fit and its D0.2, fm, b, c, and whether the star passes
the Xue et al. (2011) cuts.</li>
<li><b>Cutouts</b>: u, g, r, i, z and a gri composite with one stretch and zoom (wheel, drag), ticks on
the target, and an overlay with its colour scale: measured occlusion (what hiding each patch does to
P(BHB)) or the model's attention against uniform; the bars are what removing each band does to P(BHB).</li>
</ul>
<h3>3. Decide</h3>
<p>One key per verdict (B, S, A, N, O, X, U); Enter accepts the model's call. Each verdict is written
to the session file the moment you make it, and the next candidate follows. J/K step through the
list; Space goes to the next unvetted star, M to the one the model is least sure of (Shift goes
the other way); Ctrl+G or / jumps to an id. Ctrl+Z undoes, also after reopening the session.
A red ≠ says your verdict and the model's call differ.</p>
<h3>4. Export</h3>
<p>File → Export writes CSV, ECSV, FITS or VOTable with verdicts, scores, model version, reviewer,
times and the classical diagnostics. <i>Model-accepted</i> rows are the stars at or above the cut you
choose on the model's validation purity–completeness curve, except that <b>your verdict always
wins</b>: a star you called BHB is kept whatever its score, one you called anything else but
unsure is left out.</p>
<p>Press <b>?</b> or <b>F1</b> for the keys.</p>
"""


class GuideDialog(QDialog):
    """The one-page guide, non-modal: the review can go on beside it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("bhb_viewer guide")
        self.setModal(False)
        self.browser = QTextBrowser()
        self.browser.setHtml(GUIDE_HTML)
        self.browser.setOpenExternalLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)
        self.resize(620, 640)
