"""SDSS access through astroquery, behind an on-disk cache, an offline mode, timeouts and retry.

:class:`SDSSService` is what the builder, the batch fetch and the app call. It composes one helper
per concern: the cache folder and its per-file locks (``sdss_cache``), the connectivity probe and
retry with backoff (``sdss_network``), the astroquery calls (``sdss_wire``) and cutting cubes from
what comes back (``sdss_cutouts``). Everything that touches the network goes through one method,
``SDSSService._fetch(kind, **params)``, so tests (and any future mirror) replace a single function
to serve local FITS files.

A 404 is ``NotFound`` (this star is skipped). A network that goes away mid-run raises
``NetworkUnavailable`` (the whole job stops, and a rerun resumes from the cache).

Cutouts: by default 5-band cutouts from the SDSS HiPS through hips2fits (services.hips, ~100 kB
per star); ``cutouts="frames"`` cuts them from whole SDSS frames (≈ 15 MB per star), which is
also the fallback where the HiPS has no data.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from astropy.io import fits

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import CUTOUT_SIZE
from bhb_viewer.core.readers import cutouts
from bhb_viewer.core.readers.candidates import spec_name
from bhb_viewer.services.sdss_cache import CACHE_ENV, SDSSCache, default_cache_dir
from bhb_viewer.services.sdss_cutouts import cube_from_frames, cube_from_hips
from bhb_viewer.services.sdss_errors import CacheMiss, NetworkUnavailable, NotFound, SDSSError
from bhb_viewer.services.sdss_network import MAX_CONSECUTIVE_FAILURES, NetworkGuard
from bhb_viewer.services.sdss_wire import SkyServerWire

__all__ = ["CACHE_ENV", "CLI_OFFLINE_HINT", "CUTOUT_MODES", "DEFAULT_OFFLINE_HINT", "CacheMiss", "NetworkUnavailable",
           "NotFound", "SDSSError", "SDSSService", "decode_specobjid"]

log = logging.getLogger(__name__)

CUTOUT_MODES = ("hips", "frames")
CLI_OFFLINE_HINT = "or use --offline to work from the cache"
# a caller that names no control of its own gets both, so the advice is right wherever it shows
DEFAULT_OFFLINE_HINT = "or work from the cache (SDSS → Offline in the app, --offline on the command line)"


def decode_specobjid(specobjid: int) -> tuple[int, int, int]:
    """Plate, MJD and fiber packed in a DR8+ specObjID (plate bits 50-63, fiber 38-49, MJD-50000 24-37).

    Decoding locally saves one SQL round trip per star; an id that does not decode to a plausible
    plate/MJD/fiber (e.g. a LAMOST obsid) raises ValueError.
    """
    sid = int(specobjid)
    plate, fiber, mjd = sid >> 50, (sid >> 38) & 0xFFF, ((sid >> 24) & 0x3FFF) + 50000
    if plate < 1 or fiber < 1 or fiber > 1000 or mjd < 51000:
        raise ValueError(f"specobjid {specobjid} does not encode an SDSS plate/MJD/fiber")
    return plate, mjd, fiber


class SDSSService:
    """Spectra and 5-band cutout cubes from SDSS, cached on disk.

    Parameters
    ----------
    cache_dir : where files are kept (see ``default_cache_dir``).
    offline : use only the cache; a miss raises ``CacheMiss`` and the network is never touched.
    timeout : seconds per request handed to astroquery.
    retries : extra attempts after a transient failure, sleeping ``backoff * 2**k`` seconds.
    probe_timeout : seconds allowed to find out whether the SDSS host is reachable at all.
    data_release : SDSS data release queried (17 holds every legacy and BOSS spectrum).
    cutouts : 'hips' (default: hips2fits cutouts, frames where the HiPS has no data) or 'frames'.
    offline_hint : how the caller's user switches to the cache, appended to a no-network message
        (``CLI_OFFLINE_HINT`` for ``--offline``, services.batch_fetch.APP_OFFLINE_HINT for the app's
        SDSS → Offline; by default both are named).
    max_consecutive_failures : requests in a row that may run out of retries before the job stops.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike | None = None,
        *,
        offline: bool = False,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 2.0,
        probe_timeout: float = 2.0,
        data_release: int = 17,
        cutouts: str = "hips",
        offline_hint: str = DEFAULT_OFFLINE_HINT,
        max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if cutouts not in CUTOUT_MODES:
            raise ValueError(f"cutouts must be one of {CUTOUT_MODES}, not {cutouts!r}")
        self.cache_dir = default_cache_dir(cache_dir)
        self.cache = SDSSCache(self.cache_dir)
        self.offline = offline
        self.data_release = data_release
        self.cutouts = cutouts
        self.offline_hint = offline_hint
        self.network = NetworkGuard(lambda: f"{self.offline_hint} {self.cache_dir}", retries=retries, backoff=backoff,
                                    probe_timeout=probe_timeout, max_consecutive_failures=max_consecutive_failures,
                                    sleep=sleep)
        self.wire = SkyServerWire(timeout, data_release)

    # -- cache layout -------------------------------------------------------------------------
    def spectrum_path(self, plate: int, mjd: int, fiber: int) -> Path:
        return self.cache.spectrum_path(plate, mjd, fiber)

    def cube_path(self, ra: float, dec: float, size: int = CUTOUT_SIZE, mode: str = "frames") -> Path:
        return self.cache.cube_path(ra, dec, size, mode)

    # -- public API ---------------------------------------------------------------------------
    def ensure_online(self) -> None:
        """Raise ``NetworkUnavailable`` at once when the SDSS host cannot be resolved and reached
        (checked once per service; see ``sdss_network.NetworkGuard.ensure_online``)."""
        self.network.ensure_online()

    def spectrum_file(self, plate: int, mjd: int, fiber: int) -> Path:
        """The cached ``spec-PLATE-MJD-FIBER.fits`` file, downloading it first unless it is there."""
        params = dict(plate=int(plate), mjd=int(mjd), fiber=int(fiber))
        return self._spectrum(self.spectrum_path(plate, mjd, fiber), spec_name(plate, mjd, fiber), params)

    def spectrum_file_at(self, ra: float, dec: float) -> Path:
        """The spectrum of the SDSS object within 2″ of (ra, dec), for catalogs without plate/mjd/fiber."""
        return self._spectrum(self.cache.spectrum_path_at(ra, dec), f"the spectrum at RA {ra:.5f} Dec {dec:+.5f}",
                              dict(ra=float(ra), dec=float(dec)))

    def spectrum_file_by_specobjid(self, specobjid: int) -> Path:
        try:
            plate, mjd, fiber = decode_specobjid(specobjid)
        except ValueError as exc:
            raise NotFound(str(exc)) from exc
        return self.spectrum_file(plate, mjd, fiber)

    def cube(self, ra: float, dec: float, size: int = CUTOUT_SIZE) -> cutouts.Cube:
        """A u,g,r,i,z cube centred on (ra, dec), from the cache or fetched in this service's cutout mode.

        ``meta["cutout_source"]`` says where the pixels came from ('hips' or 'frames'). In HiPS mode a
        position the HiPS has no data for falls back to the frames; a cached frames cube also serves
        HiPS mode (a resumed build does not fetch a star twice).
        """
        where = f"RA {ra:.5f} Dec {dec:+.5f}"
        cached = self.cache.find_cube(ra, dec, size, ("hips", "frames") if self.cutouts == "hips" else ("frames",))
        if cached is not None:
            return cached
        if self.offline:
            raise CacheMiss(f"no cutout cube at {where} in the cache {self.cache_dir} (offline mode)")
        if self.cutouts == "hips":
            try:
                return self.cache.cube(ra, dec, size, "hips", self._hips_cube)
            except NetworkUnavailable:
                raise
            except (SDSSError, BadInputError) as exc:  # no HiPS data there, or hips2fits refused: the frames may
                log.info("HiPS cutout at %s unusable (%s); cutting it from the SDSS frames", where, exc)
        return self.cache.cube(ra, dec, size, "frames", self._frames_cube)

    # -- fetching ---------------------------------------------------------------------------------
    def _spectrum(self, path: Path, name: str, params: dict[str, Any]) -> Path:
        with self.cache.lock(path):
            if path.is_file():
                return path
            if self.offline:
                raise CacheMiss(f"{name} is not in the cache {self.cache_dir} (offline mode)")
            try:
                hdus = self.network.request(self._fetch, "spectrum", **params)
            except NotFound as exc:  # a 404 for the file SkyServer named
                raise NotFound(f"SDSS DR{self.data_release} has no spectrum {name} ({exc})") from exc
            if not hdus:
                raise NotFound(f"SDSS DR{self.data_release} has no spectrum {name}")
            try:
                self.cache.write_spectrum(path, hdus[0])
            finally:  # astroquery hands back open files
                for hdul in hdus:
                    hdul.close()
            return path

    def _hips_cube(self, ra: float, dec: float, size: int) -> cutouts.Cube:
        return cube_from_hips(self.network.request(self._fetch, "hips", ra=float(ra), dec=float(dec), size=int(size)),
                              ra, dec, size)

    def _frames_cube(self, ra: float, dec: float, size: int) -> cutouts.Cube:
        frames = self.network.request(self._fetch, "frames", ra=float(ra), dec=float(dec))
        return cube_from_frames(frames, ra, dec, size, f"SDSS DR{self.data_release}")

    def _fetch(self, kind: str, **params: Any) -> list[fits.HDUList]:
        """The one seam to the network (``sdss_wire.SkyServerWire.fetch``): replace it to serve local files."""
        return self.wire.fetch(kind, **params)
