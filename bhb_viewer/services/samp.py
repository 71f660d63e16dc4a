"""SAMP: the candidate table to TOPCAT with row selection kept in step both ways, cutouts to DS9 or
Aladin, spectra to SPLAT or specviz, and a sky position from any of them selecting the nearest
candidate. Qt-free: callbacks run on astropy's SAMP server thread, so a window hands them to its
own thread (a queued signal) before touching widgets.

Messages (SAMP MTypes):

==========================  ====  ================================================================
``table.load.votable``      out   the candidate table, as a VOTable file (url, table-id, name)
``table.highlight.row``     both  one row of that table (0-based, in the order sent)
``table.select.rowList``    both  a set of its rows
``coord.pointAt.sky``       in    RA/Dec in degrees: ``on_point(row, separation_arcsec)``
``image.load.fits``         out   one band of a cutout, FITS with a TAN WCS centred on the star
``spectrum.load.ssa-generic`` out the spectrum as a FITS binary table (WAVELENGTH Å, FLUX, IVAR)
==========================  ====  ================================================================

Files sent are written into a private temporary folder, removed on :meth:`SampLink.disconnect`.
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

from bhb_viewer.core.cutouts import centre_pixel
from bhb_viewer.core.grid import PIXEL_SCALE_ARCSEC

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
        Called with (row, separation in arcsec) of the candidate nearest a ``coord.pointAt.sky``.
    """

    def __init__(self, on_state: Callable[[SampState], None] | None = None,
                 on_highlight: Callable[[int], None] | None = None,
                 on_select: Callable[[list[int]], None] | None = None,
                 on_point: Callable[[int, float], None] | None = None,
                 name: str = CLIENT_NAME):
        self.on_state, self.on_highlight, self.on_select, self.on_point = on_state, on_highlight, on_select, on_point
        self.name = name
        self._client: SAMPIntegratedClient | None = None
        self._hub: SAMPHubServer | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._lock = threading.Lock()
        self.table_id: str | None = None
        self.table_url: str | None = None
        self._xyz: np.ndarray | None = None  # unit vectors of the table's positions, for pointAt

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
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.table_id = self.table_url = self._xyz = None  # its file is gone: send it again after reconnecting
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
            self.table_id = f"bhb-{id(table):x}"
            path = self._path(f"{self.table_id}.vot")
            writeto(from_table(out), str(path))
            self.table_url = path.as_uri()
            ra = np.radians(np.asarray(table["ra"], dtype=np.float64))
            dec = np.radians(np.asarray(table["dec"], dtype=np.float64))
            self._xyz = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=1)
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
        """(row, separation in arcsec) of the sent table's candidate nearest (ra, dec) in degrees."""
        if self._xyz is None or not len(self._xyz):
            raise SampError("send the table first")
        r, d = np.radians(ra), np.radians(dec)
        target = np.array([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])
        dots = np.nan_to_num(self._xyz @ target, nan=-2.0)
        row = int(np.argmax(dots))
        return row, float(np.degrees(np.arccos(np.clip(dots[row], -1, 1))) * 3600)

    def _ours(self, params: dict[str, Any]) -> bool:
        if self.table_id is None:
            return False
        return params.get("table-id") == self.table_id or params.get("url") == self.table_url

    def _got_highlight(self, params: dict[str, Any]) -> None:
        if self._ours(params) and self.on_highlight is not None:
            self.on_highlight(int(params["row"]))

    def _got_select(self, params: dict[str, Any]) -> None:
        if self._ours(params) and self.on_select is not None:
            self.on_select([int(r) for r in params.get("row-list", [])])

    def _got_point(self, params: dict[str, Any]) -> None:
        if self._xyz is not None and self.on_point is not None:
            self.on_point(*self.nearest(float(params["ra"]), float(params["dec"])))

    def _notification(self, handler: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        def receive(private_key, sender_id, mtype, params, extra):
            self._handle(handler, mtype, params)
        return receive

    def _call(self, handler: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        def receive(private_key, sender_id, msg_id, mtype, params, extra):
            ok = self._handle(handler, mtype, params)
            status = {"samp.status": "samp.ok" if ok else "samp.error", "samp.result": {}}
            if not ok:
                status["samp.error"] = {"samp.errortxt": f"bhb_viewer could not use this {mtype}"}
            if self._client is not None:
                self._client.reply(msg_id, status)
        return receive

    @staticmethod
    def _handle(handler: Callable[[dict[str, Any]], None], mtype: str, params: dict[str, Any]) -> bool:
        try:
            handler(params)
        except (KeyError, ValueError, TypeError, SampError) as exc:  # a malformed message from another program
            log.warning("SAMP: ignored %s %r (%s)", mtype, params, exc)
            return False
        return True


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
