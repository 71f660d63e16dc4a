"""Messages other SAMP clients send the viewer: a row highlighted, rows selected, a sky position.

Each handler checks the message against the table last sent (``samp_table.SentTable``) and
returns what it did; a message that fails a check selects nothing. A call is answered ``samp.ok``
with ``samp.result["message"]`` saying what was done, or ``samp.error`` saying why not, so the
person at TOPCAT or DS9 learns why nothing happened. Handlers run on astropy's SAMP server thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bhb_viewer.services.samp_errors import SampError
from bhb_viewer.services.samp_table import SentTable

MT_HIGHLIGHT = "table.highlight.row"
MT_SELECT = "table.select.rowList"
MT_POINT = "coord.pointAt.sky"
MAX_SEPARATION_ARCSEC = 5.0  # a pointAt farther than this from every candidate selects none (~2 SDSS seeing discs)

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], str]


class Receiver:
    """The viewer's answers to incoming messages, passed on to its callbacks.

    Parameters
    ----------
    sent
        Returns the table last sent, or None.
    on_highlight, on_select
        Called with a row number / a list of row numbers of the table last sent, when another
        client highlights or selects rows of it (messages about other tables are refused).
    on_point
        Called with (row, separation in arcsec) of the candidate nearest a ``coord.pointAt.sky``,
        when it is within ``max_separation`` arcsec.
    max_separation
        Arcsec; a position farther from every candidate is answered with an error naming the
        nearest one and its separation, and selects nothing.
    """

    def __init__(self, sent: Callable[[], SentTable | None],
                 on_highlight: Callable[[int], None] | None = None,
                 on_select: Callable[[list[int]], None] | None = None,
                 on_point: Callable[[int, float], None] | None = None,
                 max_separation: float = MAX_SEPARATION_ARCSEC) -> None:
        self._sent = sent
        self.on_highlight, self.on_select, self.on_point = on_highlight, on_select, on_point
        self.max_separation = max_separation

    def bind(self, client: Any) -> None:
        """Subscribe ``client`` (an astropy ``SAMPIntegratedClient``) to the messages handled here."""
        for mtype, handler in ((MT_HIGHLIGHT, self.highlight), (MT_SELECT, self.select), (MT_POINT, self.point)):
            client.bind_receive_notification(mtype, self._notification(handler))
            client.bind_receive_call(mtype, self._call(client, handler))

    def _table(self, params: dict[str, Any]) -> SentTable:
        """The table last sent, when the message ``params`` are about it."""
        sent = self._sent()
        if sent is None:
            raise SampError("bhb_viewer has sent no table")
        sent.check_ours(params)
        return sent

    def highlight(self, params: dict[str, Any]) -> str:
        sent = self._table(params)
        row = sent.row(params["row"])
        if self.on_highlight is not None:
            self.on_highlight(row)
        return f"showing candidate {sent.ids[row]} (row {row})"

    def select(self, params: dict[str, Any]) -> str:
        sent = self._table(params)
        rows = [sent.row(r) for r in params.get("row-list", [])]
        if self.on_select is not None:
            self.on_select(rows)
        return f"{len(rows)} row(s) selected" + (f"; showing candidate {sent.ids[rows[0]]}" if rows else "")

    def point(self, params: dict[str, Any]) -> str:
        sent = self._sent()
        if sent is None:
            raise SampError("send the table first")
        row, sep = sent.nearest(float(params["ra"]), float(params["dec"]))
        if sep > self.max_separation:
            raise SampError(f"no candidate within {self.max_separation:g} arcsec; the nearest, "
                            f"{sent.ids[row]}, is {sep:.1f} arcsec away")
        if self.on_point is not None:
            self.on_point(row, sep)
        return f"showing candidate {sent.ids[row]}, {sep:.1f} arcsec away"

    def _notification(self, handler: Handler) -> Callable[..., None]:
        def receive(private_key: str, sender_id: str, mtype: str, params: dict[str, Any],
                    extra: dict[str, Any]) -> None:
            _handle(handler, mtype, params)
        return receive

    def _call(self, client: Any, handler: Handler) -> Callable[..., None]:
        def receive(private_key: str, sender_id: str, msg_id: str, mtype: str, params: dict[str, Any],
                    extra: dict[str, Any]) -> None:
            ok, text = _handle(handler, mtype, params)
            status: dict[str, Any] = {"samp.status": "samp.ok", "samp.result": {"message": text}}
            if not ok:
                status = {"samp.status": "samp.error", "samp.result": {},
                          "samp.error": {"samp.errortxt": f"bhb_viewer: {text}"}}
            if client.is_connected:
                client.reply(msg_id, status)
        return receive


def _handle(handler: Handler, mtype: str, params: dict[str, Any]) -> tuple[bool, str]:
    """(done, what happened or why not) for one incoming message."""
    try:
        return True, handler(params)
    except (KeyError, ValueError, TypeError, SampError) as exc:  # a malformed message from another program
        log.warning("SAMP: ignored %s %r (%s)", mtype, params, exc)
        text = f"missing parameter {exc}" if isinstance(exc, KeyError) else str(exc)
        return False, f"{mtype} not used: {text}"
