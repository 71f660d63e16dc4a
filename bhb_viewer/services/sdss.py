"""SDSS access through astroquery, behind an on-disk cache, an offline mode, timeouts and retry.

Everything that touches the network goes through one method, ``SDSSService._fetch(kind, **params)``,
so tests (and any future mirror) replace a single function to serve local FITS files. Around it sit
a connectivity probe (a machine without network fails in milliseconds with a clear message instead of
timing out item after item), retry with exponential backoff for transient failures, and a cache
keyed by plate-mjd-fiber for spectra and by position for cutout cubes.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import unique

from bhb_viewer.core import cutouts
from bhb_viewer.core.build import best_image
from bhb_viewer.core.candidates import CROSSMATCH_ARCSEC, spec_name
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import write_atomic
from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE

CACHE_ENV = "BHB_VIEWER_CACHE"
SDSS_HOST = "skyserver.sdss.org"


class SDSSError(RuntimeError):
    """A failure to get something from SDSS, with a message meant for the user."""


class NetworkUnavailable(SDSSError):
    """SDSS cannot be reached at all: stop the whole job, not just one item."""


class CacheMiss(SDSSError):
    """Offline mode asked for something the cache does not hold."""


class NotFound(SDSSError):
    """SDSS answered but has no such object: a per-item rejection, never retried."""


def default_cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache root: an explicit argument, else $BHB_VIEWER_CACHE, else the user cache dir."""
    if override:
        return Path(override)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("bhb_viewer")) / "sdss"


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


def _is_transient(exc: BaseException) -> bool:
    """Worth retrying: connection drops, timeouts, HTTP 429 and 5xx."""
    import requests

    if isinstance(exc, requests.HTTPError):
        status = getattr(exc.response, "status_code", None)
        return status is None or status == 429 or status >= 500
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError))


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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cache_dir = default_cache_dir(cache_dir)
        self.offline = offline
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.probe_timeout = probe_timeout
        self.data_release = data_release
        self._sleep = sleep
        self._network_problem: str | None = None  # set by the first failed probe
        self._online = False
        self._local = threading.local()  # one astroquery client per thread
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, path: Path) -> threading.Lock:
        """One lock per cache file, so parallel builders never fetch or write the same file twice."""
        with self._locks_guard:
            return self._locks.setdefault(path, threading.Lock())

    # -- cache layout -------------------------------------------------------------------------
    def spectrum_path(self, plate: int, mjd: int, fiber: int) -> Path:
        return self.cache_dir / "spectra" / f"{spec_name(plate, mjd, fiber)}.fits"

    def cube_path(self, ra: float, dec: float, size: int = CUTOUT_SIZE) -> Path:
        return self.cache_dir / "cubes" / f"cube-{ra:.5f}{dec:+.5f}-{size}.fits"

    # -- public API ---------------------------------------------------------------------------
    def spectrum_file(self, plate: int, mjd: int, fiber: int) -> Path:
        """The cached ``spec-PLATE-MJD-FIBER.fits`` file, downloading it first unless it is there."""
        params = dict(plate=int(plate), mjd=int(mjd), fiber=int(fiber))
        return self._spectrum(self.spectrum_path(plate, mjd, fiber), spec_name(plate, mjd, fiber), params)

    def spectrum_file_at(self, ra: float, dec: float) -> Path:
        """The spectrum of the SDSS object within 2″ of (ra, dec), for catalogs without plate/mjd/fiber."""
        path = self.cache_dir / "spectra" / f"at-{ra:.5f}{dec:+.5f}.fits"
        return self._spectrum(path, f"the spectrum at RA {ra:.5f} Dec {dec:+.5f}", dict(ra=float(ra), dec=float(dec)))

    def _spectrum(self, path: Path, name: str, params: dict[str, Any]) -> Path:
        with self._lock(path):
            if path.is_file():
                return path
            if self.offline:
                raise CacheMiss(f"{name} is not in the cache {self.cache_dir} (offline mode)")
            hdus = self._request("spectrum", **params)
            if not hdus:
                raise NotFound(f"SDSS DR{self.data_release} has no spectrum {name}")
            _write_atomic(path, hdus[0])
            return path

    def spectrum_file_by_specobjid(self, specobjid: int) -> Path:
        try:
            plate, mjd, fiber = decode_specobjid(specobjid)
        except ValueError as exc:
            raise NotFound(str(exc)) from exc
        return self.spectrum_file(plate, mjd, fiber)

    def cube(self, ra: float, dec: float, size: int = CUTOUT_SIZE) -> cutouts.Cube:
        """A u,g,r,i,z cube centred on (ra, dec), cut from the SDSS frames covering it and cached.

        Where fields overlap, each band uses the frame in which the star lies farthest from an edge.
        """
        path = self.cube_path(ra, dec, size)
        with self._lock(path):
            if path.is_file():
                return cutouts.read_cube(path)
            where = f"RA {ra:.5f} Dec {dec:+.5f}"
            if self.offline:
                raise CacheMiss(f"no cutout cube at {where} in the cache {self.cache_dir} (offline mode)")
            by_band: dict[str, list[cutouts.BandImage]] = {}
            for hdul in self._request("frames", ra=float(ra), dec=float(dec)):
                image = frame_image(hdul)
                by_band.setdefault(image.band, []).append(image)
            missing = [b for b in BANDS if b not in by_band]
            if missing:
                raise NotFound(f"SDSS DR{self.data_release} has no {','.join(missing)} frame at {where}")
            images = {b: best_image(by_band[b], ra, dec) for b in BANDS}
            cube = cutouts.make_cube(images, ra, dec, size)
            path.parent.mkdir(parents=True, exist_ok=True)
            cutouts.write_cube(path, cube)
            return cube

    # -- request layer --------------------------------------------------------------------------
    def _request(self, kind: str, **params: Any) -> list[fits.HDUList]:
        """``_fetch`` behind the connectivity probe and retry with exponential backoff.

        When the retries run out the host is probed again: a network that went away mid-build
        raises ``NetworkUnavailable`` (stop) rather than failing every remaining star slowly.
        """
        self.ensure_online()
        attempt = 0
        while True:
            try:
                return self._fetch(kind, **params)
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                if attempt == self.retries:
                    problem = self._probe()
                    if problem:
                        self._online, self._network_problem = False, problem
                        raise NetworkUnavailable(problem) from exc
                    raise SDSSError(f"SDSS {kind} request {params} failed after {attempt + 1} attempts: {exc}") from exc
                self._sleep(self.backoff * 2**attempt)
                attempt += 1

    def _fetch(self, kind: str, **params: Any) -> list[fits.HDUList]:
        """The only code that talks to SDSS: one astroquery call, no cache and no retry."""
        SDSS = self._client()
        common = dict(timeout=self.timeout, data_release=self.data_release, cache=False, show_progress=False)
        if "ra" in params:
            common.update(coordinates=SkyCoord(params["ra"], params["dec"], unit="deg"), radius=CROSSMATCH_ARCSEC * u.arcsec)
        if kind == "spectrum" and "plate" in params:
            result = SDSS.get_spectra(plate=params["plate"], mjd=params["mjd"], fiberID=params["fiber"], **common)
        elif kind == "spectrum":
            result = SDSS.get_spectra(**common)
        elif kind == "frames":  # one position query, then every band of each distinct field once
            coords = dict(coordinates=common.pop("coordinates"), radius=common.pop("radius"))
            matches = SDSS.query_crossid(**coords, fields=["run", "rerun", "camcol", "field"], timeout=self.timeout,
                                         data_release=self.data_release, cache=False)
            if matches is None or len(matches) == 0:
                return []
            fields = unique(matches, keys=["run", "rerun", "camcol", "field"])
            result = SDSS.get_images(matches=fields, band="".join(BANDS), **common)
        else:
            raise ValueError(f"unknown request kind {kind!r}")
        return list(result or [])

    def _client(self):
        """This thread's astroquery SDSS client: a requests session is not meant to be shared by threads."""
        client = getattr(self._local, "client", None)
        if client is None:
            from astroquery.sdss import SDSSClass

            client = self._local.client = SDSSClass()
        return client

    def ensure_online(self) -> None:
        """Raise ``NetworkUnavailable`` at once when the SDSS host cannot be resolved and reached.

        Checked once per service (a failure is remembered, so a batch of thousands stops at the
        first item): resolving and connecting run in a daemon thread bounded by ``probe_timeout``
        so that a dead resolver cannot stall the caller either.
        """
        if self._online:
            return
        if self._network_problem is None:
            self._network_problem = self._probe()
        if self._network_problem:
            raise NetworkUnavailable(self._network_problem)
        self._online = True

    def _probe(self) -> str:
        """An empty string when the SDSS host answers, else the user-facing reason it does not."""
        outcome: list[BaseException | None] = []

        def probe() -> None:
            try:
                addr = socket.getaddrinfo(SDSS_HOST, 443, type=socket.SOCK_STREAM)[0][4]
                with socket.create_connection(addr[:2], timeout=self.probe_timeout):
                    pass
                outcome.append(None)
            except OSError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(self.probe_timeout)
        problem = outcome[0] if outcome else TimeoutError(f"no answer within {self.probe_timeout:g} s")
        if problem is None:
            return ""
        return (
            f"cannot reach SDSS ({SDSS_HOST}: {problem}); check the network, "
            f"or use --offline to work from the cache {self.cache_dir}"
        )


def frame_image(hdul: fits.HDUList) -> cutouts.BandImage:
    """The calibrated image (nanomaggies), band (FILTER keyword) and WCS of an SDSS ``frame`` file in memory."""
    head = hdul[0].header
    name = f"SDSS frame (run {head.get('RUN', '?')}, camcol {head.get('CAMCOL', '?')}, field {head.get('FIELD', '?')})"
    band = cutouts.band_of("", head)
    if band is None:
        raise BadInputError(name, "SDSS frame without a FILTER keyword naming its band")
    if hdul[0].data is None or hdul[0].data.ndim != 2:
        raise BadInputError(name, "SDSS frame without a 2-D image in its primary HDU")
    wcs = cutouts.celestial_wcs(head)
    if wcs is None:
        raise BadInputError(name, "SDSS frame without a celestial WCS")
    return cutouts.BandImage(np.asarray(hdul[0].data, np.float32), wcs, band, f"{band} {name}")


def _write_atomic(path: Path, hdul: fits.HDUList) -> None:
    """Write a FITS file under a temporary name first so an interrupted download never looks cached."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, hdul.writeto)
