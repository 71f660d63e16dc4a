"""SAMP in the window: the SAMP menu's actions, its state in the status bar, and the selection kept
in step with TOPCAT. :class:`~bhb_viewer.services.samp.SampLink` calls back on its own thread;
the signals here carry those calls to the GUI thread (queued) before anything is touched."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from bhb_viewer.core.grid import BANDS
from bhb_viewer.services.samp import SampError, SampLink, SampState

if TYPE_CHECKING:
    from bhb_viewer.gui.main_window import MainWindow

log = logging.getLogger(__name__)

__all__ = ["SampBridge"]

CUTOUT_BAND = "r"
HUB_CHECK_MS = 5000  # how often the hub is pinged while connected, so that its loss shows in the status bar


class SampBridge(QObject):
    """The window's SAMP client: connect, send, and follow TOPCAT's (or any client's) selection."""

    sigHighlight = Signal(int)
    sigSelect = Signal(list)
    sigPoint = Signal(int, float)
    sigState = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.review = window.review
        self.label = QLabel("SAMP off")
        self.link = SampLink(on_state=lambda state: self.sigState.emit(state.value),
                             on_highlight=self.sigHighlight.emit, on_select=self.sigSelect.emit,
                             on_point=self.sigPoint.emit)
        self.sigState.connect(lambda text: self.label.setText(f"SAMP {text}"))
        self.sigHighlight.connect(self._show_row)
        self.sigSelect.connect(self._selected)
        self.sigPoint.connect(self._pointed)
        self._incoming = -1  # the row another client just highlighted: not sent back to it
        self.review.nav.changed.connect(self._current_changed)
        self.hub_timer = QTimer(self, interval=HUB_CHECK_MS)
        self.hub_timer.timeout.connect(self.link.check)
        self.sigState.connect(lambda text: self.hub_timer.stop() if text == SampState.DISCONNECTED.value
                              else self.hub_timer.start())

    @property
    def connected(self) -> bool:
        return self.link.state is not SampState.DISCONNECTED

    # -- menu actions ----------------------------------------------------------------------------
    def connect_hub(self, start_hub: bool = False) -> bool:
        """Join the running hub (or start one); the state shows in the status bar."""
        self.link.check()  # a hub gone since the last check: connect afresh
        try:
            self.link.connect(start_hub=start_hub)
        except (SampError, OSError) as exc:
            self.window.show_error("SAMP", str(exc))
            return False
        return True

    def disconnect_hub(self) -> None:
        self.link.disconnect()

    def send_table(self) -> None:
        """The candidate list to TOPCAT (to every table client when no TOPCAT is registered).

        Writing the VOTable of a long list takes seconds, so it runs as a background job; the
        window's current row follows once the table has arrived.
        """
        source = self.review.source
        if source is None:
            self.window.show_error("SAMP", "Open a candidate list first.")
            return
        catalog, name, link = source.catalog, source.origin.name, self.link

        def job(cancel, progress):
            try:
                yield link.send_table(catalog, name=name)
            except SampError:
                yield link.send_table(catalog, name=name, recipient=None)

        self.review.runner.submit("samp table", job, on_batch=self._table_sent,
                                  on_error=lambda msg: self.window.show_error("SAMP", msg))

    def _table_sent(self, reached: list[str]) -> None:
        self.review.events.notice.emit(f"table sent to {len(reached)} SAMP client(s)")
        if self.review.nav.current >= 0:
            self._current_changed(self.review.nav.current)

    def send_cutout(self) -> None:
        """The candidate's r-band cutout, with a WCS, to DS9 or Aladin (every image client)."""
        current = self.review.current()
        cube = None if current is None else self.review.cube(current[0])
        if current is None or cube is None:
            self.window.show_error("SAMP", "This candidate has no cutouts to send.")
            return
        row, cid = current
        ra, dec = (float(self.review.rows.column(c)[row]) for c in ("ra", "dec"))
        self._send(lambda: self.link.send_cutout(cube[BANDS.index(CUTOUT_BAND)], ra, dec, f"{cid} {CUTOUT_BAND}"))

    def send_spectrum(self) -> None:
        """The candidate's spectrum to SPLAT or specviz."""
        current = self.review.current()
        spectrum = None if current is None else self.review.spectrum(current[0])
        if current is None or spectrum is None:
            self.window.show_error("SAMP", "This candidate has no spectrum to send.")
            return
        wave, flux, ivar = spectrum
        self._send(lambda: self.link.send_spectrum(wave, flux, current[1], ivar=ivar))

    def _send(self, call) -> None:
        try:
            reached = call()
        except SampError as exc:
            self.window.show_error("SAMP", str(exc))
            return
        self.review.events.notice.emit(f"sent to {len(reached)} SAMP client(s)")

    # -- selection both ways ---------------------------------------------------------------------
    def _current_changed(self, row: int) -> None:
        if row < 0 or not self.connected or self.link.table_id is None or row == self._incoming:
            self._incoming = -1
            return
        try:
            self.link.highlight_row(row)
        except SampError as exc:  # nobody listens any more, or the hub went away
            log.info("SAMP: highlight not sent (%s)", exc)

    def _show_row(self, row: int) -> None:
        if self.review.source is not None and 0 <= row < len(self.review.source):
            self._incoming = row
            self.review.browser.show_row(row)

    def _selected(self, rows: list[int]) -> None:
        if rows:
            self._show_row(rows[0])
            self.review.events.notice.emit(f"{len(rows)} rows selected over SAMP; showing the first")

    def _pointed(self, row: int, separation: float) -> None:
        self._show_row(row)
        cid = self.review.source.ids[row] if self.review.source is not None else row
        self.review.events.notice.emit(f"pointAt: nearest candidate {cid}, {separation:.1f}″ away")

    def close(self) -> None:
        if self.connected:
            self.link.disconnect()
