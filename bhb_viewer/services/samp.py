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

Files sent are written into a private temporary folder, removed on :meth:`SampLink.disconnect`.
A call is answered ``samp.ok`` with ``samp.result["message"]`` saying what was done, or
``samp.error`` saying why not (a position off the sky or too far from every candidate, a row
outside the table, a table this viewer did not send). A table sent twice gets a new table id
(TOPCAT refuses a table id it already holds).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core.grid import PIXEL_SCALE_ARCSEC
from bhb_viewer.core.readers.cutouts import centre_pixel

with warnings.catch_warnings():  # astropy 8 marks astropy.samp deprecated in favour of pyvo.samp
    warnings.simplefilter("ignore")
    from astropy.samp import SAMPHubError, SAMPHubServer, SAMPIntegratedClient, SAMPProxyError

MT_TABLE = "table.load.votable"
MT_HIGHLIGHT = "table.highlight.row"
MT_SELECT = "table.select.rowList"
MT_POINT = "coord.pointAt.sky"
MT_IMAGE = "image.load.fits"
MT_SPECTRUM = "spectrum.load.ssa-generic"
CLIENT_NAME = "bhb_viewer"
MAX_SEPARATION_ARCSEC = 5.0  # a pointAt farther than this from every candidate selects none (~2 SDSS seeing discs)
_table_serial = itertools.count(1)

log = logging.getLogger(__name__)


class SampError(RuntimeError):
    """No hub, a hub that went away, or a message no client could take: the text says which."""


class SampState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"  # to a hub someone else runs
    HUB = "connected (own hub)"  # to the hub this link started


class SampLink:
    """One SAMP client for the viewer.

    Parameters
    ----------
    on_state
        Called with the new :class:`SampState` after connecting or disconnecting.
    on_highlight, on_select
        Called with a row number / a list of row numbers of the table last sent, when another
        client highlights or selects rows of it (messages about other tables are ignored).
    on_point
        Called with (row, separation in arcsec) of the candidate nearest a ``coord.pointAt.sky``,
        when it is within ``max_separation`` arcsec.
    max_separation
        Arcsec; a position farther from every candidate is answered with an error naming the
        nearest one and its separation, and selects nothing.
    """

    def __init__(self, on_state: Callable[[SampState], None] | None = None,
                 on_highlight: Callable[[int], None] | None = None,
                 on_select: Callable[[list[int]], None] | None = None,
                 on_point: Callable[[int, float], None] | None = None,
                 name: str = CLIENT_NAME, max_separation: float = MAX_SEPARATION_ARCSEC):
        self.on_state, self.on_highlight, self.on_select, self.on_point = on_state, on_highlight, on_select, on_point
        self.name = name
        self.max_separation = max_separation
        self._client: SAMPIntegratedClient | None = None
        self._hub: SAMPHubServer | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._lock = threading.Lock()
        self.table_id: str | None = None
        self.table_url: str | None = None
        self._xyz: np.ndarray | None = None  # unit vectors of the table's positions, for pointAt
        self._ids: list[str] = []  # the sent table's id column (or row numbers), for replies

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
        except (SAMPHubError, SAMPProxyError, OSError) as exc:
            if not start_hub:
                raise SampError(f"no SAMP hub is running ({exc}); start TOPCAT or ask to start a hub") from exc
            self._hub = SAMPHubServer(web_profile=False, lockfile=None if lockfile is None else str(lockfile),
                                      addr="127.0.0.1")
            self._hub.start(wait=False)
            client.connect(hub=self._hub)
        self._client = client
        self._tmp = tempfile.TemporaryDirectory(prefix="bhb-samp-")
        for mtype, handler in ((MT_HIGHLIGHT, self._got_highlight), (MT_SELECT, self._got_select),
                               (MT_POINT, self._got_point)):
            client.bind_receive_notification(mtype, self._notification(handler))
            client.bind_receive_call(mtype, self._call(handler))
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
        except (SAMPHubError, SAMPProxyError, OSError) as exc:
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
            except (SAMPHubError, SAMPProxyError, OSError) as exc:
                log.info("SAMP: stopping the client: %s", exc)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.table_id = self.table_url = self._xyz = None
        self._ids = []

    def disconnect(self) -> None:
        """Unregister (and stop the hub if this link started it); temporary files go too."""
        client, hub, self._client, self._hub = self._client, self._hub, None, None
        if client is not None and client.is_connected:
            try:
                client.disconnect()
            except (SAMPHubError, SAMPProxyError, OSError) as exc:  # the hub went first
                log.warning("SAMP: disconnect: %s", exc)
        if hub is not None:
            hub.stop()
        self._forget()  # the table's file is gone: send it again after reconnecting
        self._emit_state()

    def clients(self) -> dict[str, str]:
        """Other registered clients: id -> their ``samp.name`` (or the id where they give none)."""
        client = self._need()
        out = {}
        for cid in client.get_registered_clients():
            out[cid] = _name(client, cid) or cid
        return out

    def _emit_state(self) -> None:
        if self.on_state is not None:
            self.on_state(self.state)

    def _need(self) -> SAMPIntegratedClient:
        if self._client is None or not self._client.is_connected:
            raise SampError("not connected to a SAMP hub")
        return self._client

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
        except (SAMPHubError, SAMPProxyError, OSError) as exc:
            raise SampError(f"SAMP hub unreachable while sending {mtype} ({exc})") from exc
        return targets

    def _path(self, name: str) -> Path:
        assert self._tmp is not None
        return Path(self._tmp.name) / name

    def send_table(self, table: Any, name: str = "bhb candidates", recipient: str | None = "topcat") -> list[str]:
        """Send the candidate table (astropy Table with ``ra``/``dec`` in degrees) as a VOTable; returns the
        clients reached. Rows in later highlight/select messages are indices into this table."""
        from astropy.io.votable import from_table, writeto
        from astropy.table import Table

        self._need()
        out = Table(table, copy=False)
        for col in out.colnames:  # VOTable has no unsigned 64-bit integers (SDSS specobjid)
            if out[col].dtype == np.uint64:
                out[col] = np.asarray(out[col]).astype(str)
        with self._lock:
            self.table_id = f"bhb-{os.getpid()}-{next(_table_serial)}"  # never reused: TOPCAT refuses a known id
            path = self._path(f"{self.table_id}.vot")
            writeto(from_table(out), str(path))
            self.table_url = path.as_uri()
            ra = np.radians(np.asarray(table["ra"], dtype=np.float64))
            dec = np.radians(np.asarray(table["dec"], dtype=np.float64))
            self._xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=1)
            ids = table["id"] if "id" in table.colnames else range(len(table))
            self._ids = [str(i) for i in ids]
        return self._send(MT_TABLE, {"url": self.table_url, "table-id": self.table_id, "name": name}, recipient)

    def highlight_row(self, row: int) -> list[str]:
        """Show one row of the sent table as the current row in the other clients."""
        return self._send(MT_HIGHLIGHT, {**self._table_params(), "row": str(int(row))}, None)

    def select_rows(self, rows: Sequence[int]) -> list[str]:
        """Select a set of rows of the sent table in the other clients."""
        return self._send(MT_SELECT, {**self._table_params(), "row-list": [str(int(r)) for r in rows]}, None)

    def _table_params(self) -> dict[str, str]:
        self._need()
        if self.table_id is None or self.table_url is None:
            raise SampError("send the table first")
        return {"table-id": self.table_id, "url": self.table_url}

    def send_cutout(self, image: np.ndarray, ra: float, dec: float, name: str, wcs: Any = None,
                    recipient: str | None = None) -> list[str]:
        """Send one band's NxN cutout as FITS with a celestial WCS: ``wcs`` where the cutout has one (a cube
        file's), else a TAN grid centred on (ra, dec) at the SDSS pixel scale, north up and east left
        (data sets keep no WCS; the header says the orientation is assumed)."""
        from astropy.io import fits
        from astropy.wcs import WCS

        image = np.asarray(image, dtype=np.float32)
        if image.ndim != 2 or image.shape[0] != image.shape[1]:
            raise ValueError(f"a cutout is an NxN image, not {image.shape}")
        assumed = wcs is None
        if assumed:
            wcs = WCS(naxis=2)
            wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
            wcs.wcs.crval = [ra, dec]
            wcs.wcs.crpix = [centre_pixel(image.shape[0]) + 1] * 2
            scale = PIXEL_SCALE_ARCSEC / 3600.0
            wcs.wcs.cdelt = [-scale, scale]
        header = wcs.celestial.to_header()
        if assumed:
            header["COMMENT"] = "bhb_viewer: orientation assumed north up, east left (the data set keeps no WCS)"
        header["OBJECT"] = name
        path = self._path(f"{_safe(name)}.fits")
        fits.PrimaryHDU(image, header).writeto(path, overwrite=True)
        return self._send(MT_IMAGE, {"url": path.as_uri(), "name": name, "image-id": path.stem}, recipient)

    def send_spectrum(self, wavelength: np.ndarray, flux: np.ndarray, name: str, ivar: np.ndarray | None = None,
                      recipient: str | None = None) -> list[str]:
        """Send a spectrum as a FITS binary table (WAVELENGTH in vacuum Å, FLUX, IVAR) for SPLAT or specviz."""
        from astropy.table import Table

        table = Table({"WAVELENGTH": np.asarray(wavelength, dtype=np.float64),
                       "FLUX": np.asarray(flux, dtype=np.float32)})
        if ivar is not None:
            table["IVAR"] = np.asarray(ivar, dtype=np.float32)
        table["WAVELENGTH"].unit = "Angstrom"
        table.meta["OBJECT"] = name
        path = self._path(f"{_safe(name)}-spectrum.fits")
        table.write(path, format="fits", overwrite=True)
        meta = {"Access.Format": "application/fits", "Target.Name": name}
        params = {"url": path.as_uri(), "meta": meta, "spectrum-id": path.stem, "name": name}
        return self._send(MT_SPECTRUM, params, recipient)

    # -- receiving -----------------------------------------------------------------------------

    def nearest(self, ra: float, dec: float) -> tuple[int, float]:
        """(row, separation in arcsec) of the sent table's candidate nearest (ra, dec) in degrees.

        Raises ValueError for a position off the sky: RA not finite or outside [0, 360), |Dec| > 90.
        """
        if self._xyz is None or not len(self._xyz):
            raise SampError("send the table first")
        if not (math.isfinite(ra) and math.isfinite(dec) and 0.0 <= ra < 360.0 and abs(dec) <= 90.0):
            raise ValueError(f"position off the sky: ra={ra}, dec={dec} (RA in [0, 360), |Dec| <= 90 degrees)")
        r, d = np.radians(ra), np.radians(dec)
        target = np.array([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])
        dots = np.nan_to_num(self._xyz @ target, nan=-2.0)
        row = int(np.argmax(dots))
        if dots[row] < -1.0:
            raise SampError("no candidate of the sent table has a position")
        return row, float(np.degrees(np.arccos(np.clip(dots[row], -1, 1))) * 3600)

    def _row(self, value: Any) -> int:
        """A row number of the sent table, from a message; ValueError outside it."""
        row = int(value)
        if not 0 <= row < len(self._ids):
            raise ValueError(f"row {row} is outside the table sent ({len(self._ids)} rows)")
        return row

    def _ours(self, params: dict[str, Any]) -> None:
        """Raise unless the message is about the table this viewer sent last."""
        if self.table_id is None:
            raise SampError("bhb_viewer has sent no table")
        if params.get("table-id") != self.table_id and params.get("url") != self.table_url:
            raise SampError(f"unknown table {params.get('table-id') or params.get('url')!r}; "
                            f"bhb_viewer's table is {self.table_id!r}")

    def _got_highlight(self, params: dict[str, Any]) -> str:
        self._ours(params)
        row = self._row(params["row"])
        if self.on_highlight is not None:
            self.on_highlight(row)
        return f"showing candidate {self._ids[row]} (row {row})"

    def _got_select(self, params: dict[str, Any]) -> str:
        self._ours(params)
        rows = [self._row(r) for r in params.get("row-list", [])]
        if self.on_select is not None:
            self.on_select(rows)
        return f"{len(rows)} row(s) selected" + (f"; showing candidate {self._ids[rows[0]]}" if rows else "")

    def _got_point(self, params: dict[str, Any]) -> str:
        row, sep = self.nearest(float(params["ra"]), float(params["dec"]))
        if sep > self.max_separation:
            raise SampError(f"no candidate within {self.max_separation:g} arcsec; the nearest, "
                            f"{self._ids[row]}, is {sep:.1f} arcsec away")
        if self.on_point is not None:
            self.on_point(row, sep)
        return f"showing candidate {self._ids[row]}, {sep:.1f} arcsec away"

    def _notification(self, handler: Callable[[dict[str, Any]], str]) -> Callable[..., None]:
        def receive(private_key, sender_id, mtype, params, extra):
            self._handle(handler, mtype, params)
        return receive

    def _call(self, handler: Callable[[dict[str, Any]], str]) -> Callable[..., None]:
        def receive(private_key: str, sender_id: str, msg_id: str, mtype: str, params: dict[str, Any],
                    extra: dict[str, Any]) -> None:
            ok, text = self._handle(handler, mtype, params)
            status: dict[str, Any] = {"samp.status": "samp.ok", "samp.result": {"message": text}}
            if not ok:
                status = {"samp.status": "samp.error", "samp.result": {},
                          "samp.error": {"samp.errortxt": f"bhb_viewer: {text}"}}
            if self._client is not None:
                self._client.reply(msg_id, status)
        return receive

    @staticmethod
    def _handle(handler: Callable[[dict[str, Any]], str], mtype: str, params: dict[str, Any]) -> tuple[bool, str]:
        """(done, what happened or why not) for one incoming message."""
        try:
            return True, handler(params)
        except (KeyError, ValueError, TypeError, SampError) as exc:  # a malformed message from another program
            log.warning("SAMP: ignored %s %r (%s)", mtype, params, exc)
            text = f"missing parameter {exc}" if isinstance(exc, KeyError) else str(exc)
            return False, f"{mtype} not used: {text}"


def _read_lockfile(path: str | Path) -> dict[str, str]:
    from astropy.samp.lockfile_helpers import read_lockfile

    return read_lockfile(str(path))


def _name(client: SAMPIntegratedClient, client_id: str) -> str:
    return str(client.get_metadata(client_id).get("samp.name", ""))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "candidate"


def _version() -> str:
    from bhb_viewer import __version__

    return __version__
