"""SAMP: the candidate table to TOPCAT with row selection kept in step both ways, cutouts to DS9 or
Aladin, spectra to SPLAT or specviz, and a sky position from any of them selecting the nearest
candidate. Qt-free: callbacks run on astropy's SAMP server thread, so a window hands them to its
own thread (a queued signal) before touching widgets.

Messages (SAMP MTypes):

==========================  ====  ================================================================
``table.load.votable``      out   the candidate table, as a VOTable file (url, table-id, name)
``table.highlight.row``     both  one row of that table (0-based, in the order sent)
``table.select.rowList``    both  a set of its rows
``coord.pointAt.sky``       in    RA/Dec in degrees: ``on_point(row, separation_arcsec)`` within
                                 ``max_separation`` arcsec of a candidate
``image.load.fits``         out   one band of a cutout, FITS with a TAN WCS centred on the star
``spectrum.load.ssa-generic`` out the spectrum as a FITS binary table (WAVELENGTH Å, FLUX, IVAR)
==========================  ====  ================================================================

Files sent are written into a private temporary folder (``samp_files``; the table:
``samp_table``), removed on :meth:`SampLink.disconnect`. A call is answered ``samp.ok`` with
``samp.result["message"]`` saying what was done, or ``samp.error`` saying why not (a position off
the sky or too far from every candidate, a row outside the table, a table this viewer did not
send; ``samp_receive``). A table sent twice gets a new table id (TOPCAT refuses a table id it
already holds).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.services.samp_errors import SampError
from bhb_viewer.services.samp_files import write_cutout, write_spectrum
from bhb_viewer.services.samp_receive import MAX_SEPARATION_ARCSEC, MT_HIGHLIGHT, MT_POINT, MT_SELECT, Receiver
from bhb_viewer.services.samp_table import SentTable

with warnings.catch_warnings():  # astropy 8 marks astropy.samp deprecated in favour of pyvo.samp
    warnings.simplefilter("ignore")
    from astropy.samp import SAMPHubError, SAMPHubServer, SAMPIntegratedClient, SAMPProxyError

__all__ = ["MAX_SEPARATION_ARCSEC", "MT_HIGHLIGHT", "MT_IMAGE", "MT_POINT", "MT_SELECT", "MT_SPECTRUM", "MT_TABLE",
           "SampError", "SampLink", "SampState"]

MT_TABLE = "table.load.votable"
MT_IMAGE = "image.load.fits"
MT_SPECTRUM = "spectrum.load.ssa-generic"
CLIENT_NAME = "bhb_viewer"
HUB_ERRORS = (SAMPHubError, SAMPProxyError, OSError)  # what a missing or vanished hub raises

log = logging.getLogger(__name__)


class SampState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"  # to a hub someone else runs
    HUB = "connected (own hub)"  # to the hub this link started


class SampLink:
    """One SAMP client for the viewer: the connection to the hub, and the messages sent through it.

    Parameters
    ----------
    on_state
        Called with the new :class:`SampState` after connecting or disconnecting.
    on_highlight, on_select, on_point, max_separation
        What incoming messages do: see :class:`~bhb_viewer.services.samp_receive.Receiver`
        (the link's ``receiver``).
    """

    def __init__(self, on_state: Callable[[SampState], None] | None = None,
                 on_highlight: Callable[[int], None] | None = None,
                 on_select: Callable[[list[int]], None] | None = None,
                 on_point: Callable[[int, float], None] | None = None,
                 name: str = CLIENT_NAME, max_separation: float = MAX_SEPARATION_ARCSEC):
        self.on_state = on_state
        self.name = name
        self.receiver = Receiver(lambda: self.sent, on_highlight, on_select, on_point, max_separation)
        self._client: SAMPIntegratedClient | None = None
        self._hub: SAMPHubServer | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._lock = threading.Lock()
        self.sent: SentTable | None = None  # the table last sent, which incoming rows refer to

    @property
    def table_id(self) -> str | None:
        return None if self.sent is None else self.sent.table_id

    @property
    def table_url(self) -> str | None:
        return None if self.sent is None else self.sent.url

    # -- connection ----------------------------------------------------------------------------

    @property
    def state(self) -> SampState:
        if self._client is None or not self._client.is_connected:
            return SampState.DISCONNECTED
        return SampState.HUB if self._hub is not None else SampState.CONNECTED

    def connect(self, start_hub: bool = False, lockfile: str | Path | None = None) -> SampState:
        """Register with the running hub (found through ``SAMP_HUB`` / ``~/.samp``, or ``lockfile``);
        with ``start_hub`` start one (no web profile) when none is running."""
        if self.state is not SampState.DISCONNECTED:
            return self.state
        client = SAMPIntegratedClient(name=self.name, description="bhb_viewer: vetting of BHB star candidates",
                                      metadata={"bhb_viewer.version": _version()}, addr="127.0.0.1")
        hub_params = _read_lockfile(lockfile) if lockfile and Path(lockfile).exists() else None
        try:
            client.connect(hub_params=hub_params)
        except HUB_ERRORS as exc:
            if not start_hub:
                raise SampError(f"no SAMP hub is running ({exc}); start TOPCAT or ask to start a hub") from exc
            self._hub = SAMPHubServer(web_profile=False, lockfile=None if lockfile is None else str(lockfile),
                                      addr="127.0.0.1")
            self._hub.start(wait=False)
            client.connect(hub=self._hub)
        self._client = client
        self._tmp = tempfile.TemporaryDirectory(prefix="bhb-samp-")
        self.receiver.bind(client)
        log.info("SAMP: %s", self.state.value)
        self._emit_state()
        return self.state

    def check(self) -> SampState:
        """Ping the hub; when it has gone away, drop the registration (a later :meth:`connect` starts
        afresh) and report DISCONNECTED through ``on_state``. Call it now and then (the window does)."""
        client = self._client
        if client is None:
            return SampState.DISCONNECTED
        try:
            client.ping()
        except HUB_ERRORS as exc:
            log.warning("SAMP: the hub went away (%s)", exc)
            self._forget()
            self._emit_state()
        return self.state

    def _forget(self) -> None:
        """Drop the client and the sent table's files without talking to the (gone) hub."""
        client, self._client = self._client, None
        if client is not None:
            try:  # stops its receiving server; the hub is not asked
                if client.client.is_running:
                    client.client.stop()
                client.hub.disconnect()
            except HUB_ERRORS as exc:
                log.info("SAMP: stopping the client: %s", exc)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.sent = None

    def disconnect(self) -> None:
        """Unregister (and stop the hub if this link started it); temporary files go too."""
        client, hub, self._client, self._hub = self._client, self._hub, None, None
        if client is not None and client.is_connected:
            try:
                client.disconnect()
            except HUB_ERRORS as exc:  # the hub went first
                log.warning("SAMP: disconnect: %s", exc)
        if hub is not None:
            hub.stop()
        self._forget()  # the table's file is gone: send it again after reconnecting
        self._emit_state()

    def clients(self) -> dict[str, str]:
        """Other registered clients: id -> their ``samp.name`` (or the id where they give none)."""
        client = self._need()
        return {cid: _name(client, cid) or cid for cid in client.get_registered_clients()}

    def _emit_state(self) -> None:
        if self.on_state is not None:
            self.on_state(self.state)

    def _need(self) -> SAMPIntegratedClient:
        if self._client is None or not self._client.is_connected:
            raise SampError("not connected to a SAMP hub")
        return self._client

    def _folder(self) -> Path:
        """The private folder of this connection's files."""
        self._need()
        assert self._tmp is not None
        return Path(self._tmp.name)

    # -- sending -------------------------------------------------------------------------------

    def _send(self, mtype: str, params: dict[str, Any], recipient: str | None) -> list[str]:
        """Notify the clients subscribed to ``mtype`` (those whose name contains ``recipient``, if given)."""
        client = self._need()
        try:
            targets = list(client.get_subscribed_clients(mtype))
            if recipient is not None:
                targets = [t for t in targets if recipient.lower() in _name(client, t).lower()]
            if not targets:
                who = f" named {recipient!r}" if recipient else ""
                raise SampError(f"no SAMP client{who} takes {mtype}")
            message = {"samp.mtype": mtype, "samp.params": params}
            for target in targets:
                client.notify(target, message)
        except HUB_ERRORS as exc:
            raise SampError(f"SAMP hub unreachable while sending {mtype} ({exc})") from exc
        return targets

    def send_table(self, table: Any, name: str = "bhb candidates", recipient: str | None = "topcat") -> list[str]:
        """Send the candidate table (astropy Table with ``ra``/``dec`` in degrees) as a VOTable; returns the
        clients reached. Rows in later highlight/select messages are indices into this table."""
        folder = self._folder()
        with self._lock:
            self.sent = sent = SentTable.write(table, folder)
        return self._send(MT_TABLE, {**sent.params(), "name": name}, recipient)

    def highlight_row(self, row: int) -> list[str]:
        """Show one row of the sent table as the current row in the other clients."""
        return self._send(MT_HIGHLIGHT, {**self._table_params(), "row": str(int(row))}, None)

    def select_rows(self, rows: Sequence[int]) -> list[str]:
        """Select a set of rows of the sent table in the other clients."""
        return self._send(MT_SELECT, {**self._table_params(), "row-list": [str(int(r)) for r in rows]}, None)

    def _table_params(self) -> dict[str, str]:
        self._need()
        if self.sent is None:
            raise SampError("send the table first")
        return self.sent.params()

    def send_cutout(self, image: np.ndarray, ra: float, dec: float, name: str, wcs: Any = None,
                    recipient: str | None = None) -> list[str]:
        """Send one band's NxN cutout as FITS with a celestial WCS (``samp_files.write_cutout``)."""
        path = write_cutout(self._folder(), image, ra, dec, name, wcs)
        return self._send(MT_IMAGE, {"url": path.as_uri(), "name": name, "image-id": path.stem}, recipient)

    def send_spectrum(self, wavelength: np.ndarray, flux: np.ndarray, name: str, ivar: np.ndarray | None = None,
                      recipient: str | None = None) -> list[str]:
        """Send a spectrum as a FITS binary table (WAVELENGTH in vacuum Å, FLUX, IVAR) for SPLAT or specviz."""
        path = write_spectrum(self._folder(), wavelength, flux, name, ivar)
        meta = {"Access.Format": "application/fits", "Target.Name": name}
        params = {"url": path.as_uri(), "meta": meta, "spectrum-id": path.stem, "name": name}
        return self._send(MT_SPECTRUM, params, recipient)


def _read_lockfile(path: str | Path) -> dict[str, str]:
    from astropy.samp.lockfile_helpers import read_lockfile

    return read_lockfile(str(path))


def _name(client: SAMPIntegratedClient, client_id: str) -> str:
    return str(client.get_metadata(client_id).get("samp.name", ""))


def _version() -> str:
    from bhb_viewer import __version__

    return __version__
