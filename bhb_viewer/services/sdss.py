"""SDSS access through astroquery, behind an on-disk cache, an offline mode, timeouts and retry.

Everything that touches the network goes through one method, ``SDSSService._fetch(kind, **params)``,
so tests (and any future mirror) replace a single function to serve local FITS files. Around it sit
a connectivity probe (a machine without network fails in milliseconds with a clear message instead of
timing out item after item), retry with exponential backoff for transient failures (what counts as
transient, for urllib, requests and astroquery alike: services.network_errors), and a cache keyed
by plate-mjd-fiber for spectra and by position for cutout cubes.

A 404 is ``NotFound`` (this star is skipped). A network that goes away mid-run raises
``NetworkUnavailable`` (the whole job stops, and a rerun resumes from the cache): either the probe
fails after a request ran out of retries, or :data:`MAX_CONSECUTIVE_FAILURES` requests in a row
ran out of retries although the host still answers the probe.

Cutouts: by default 5-band cutouts from the SDSS HiPS through hips2fits (services.hips, ~100 kB
per star); ``cutouts="frames"`` cuts them from whole SDSS frames (≈ 15 MB per star), which is
also the fallback where the HiPS has no data.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import unique

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import write_atomic
from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE
from bhb_viewer.core.ingest.build import best_image
from bhb_viewer.core.readers import cutouts
from bhb_viewer.core.readers.candidates import CROSSMATCH_ARCSEC, spec_name
from bhb_viewer.services import hips
from bhb_viewer.services.network_errors import classify, describe

log = logging.getLogger(__name__)

CACHE_ENV = "BHB_VIEWER_CACHE"
SDSS_HOST = "skyserver.sdss.org"
CUTOUT_MODES = ("hips", "frames")
CLI_OFFLINE_HINT = "or use --offline to work from the cache"
# a caller that names no control of its own gets both, so the advice is right wherever it shows
DEFAULT_OFFLINE_HINT = "or work from the cache (SDSS → Offline in the app, --offline on the command line)"
MAX_CONSECUTIVE_FAILURES = 5  # requests in a row that ran out of retries: SDSS is down for us, stop
FRAME_FIELDS = ["run", "rerun", "camcol", "field"]
SPECTRUM_FIELDS = ["run2d", "plate", "mjd", "fiberID", "specObjID", "sciencePrimary"]


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


def specobj_sql(plate: int, mjd: int, fiber: int) -> str:
    """SkyServer SQL for the spectra (all reductions) of one plate/MJD/fiber, with what a download needs."""
    return (f"SELECT s.{', s.'.join(SPECTRUM_FIELDS)} FROM SpecObjAll AS s "
            f"WHERE s.plate = {int(plate)} AND s.mjd = {int(mjd)} AND s.fiberID = {int(fiber)}")


def choose_spectrum(matches) -> int:
    """Index of the spectrum to use among an object's spectra: the science-primary one, else the lowest specObjID.

    SkyServer returns an object's spectra in no particular order; SDSS marks one per object
    ``sciencePrimary`` (its best). Without that flag the lowest specObjID makes the choice repeatable.
    """
    names = {c.lower(): c for c in matches.colnames}
    primary = np.asarray(matches[names["scienceprimary"]], int) == 1 if "scienceprimary" in names else np.zeros(len(matches), bool)
    ids = [int(v) for v in matches[names["specobjid"]]] if "specobjid" in names else list(range(len(matches)))
    return min(range(len(matches)), key=lambda i: (not primary[i], ids[i]))


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
        self.offline = offline
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.probe_timeout = probe_timeout
        self.data_release = data_release
        self.cutouts = cutouts
        self.offline_hint = offline_hint
        self.max_consecutive_failures = max_consecutive_failures
        self._sleep = sleep
        self._failures_in_a_row = 0
        self._failures_guard = threading.Lock()
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

    def cube_path(self, ra: float, dec: float, size: int = CUTOUT_SIZE, mode: str = "frames") -> Path:
        """Cached cube of one cutout mode: frames keep the original name, HiPS cubes add ``-hips``."""
        suffix = "" if mode == "frames" else f"-{mode}"
        return self.cache_dir / "cubes" / f"cube-{ra:.5f}{dec:+.5f}-{size}{suffix}.fits"

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
            try:
                hdus = self._request("spectrum", **params)
            except NotFound as exc:  # a 404 for the file SkyServer named
                raise NotFound(f"SDSS DR{self.data_release} has no spectrum {name} ({exc})") from exc
            if not hdus:
                raise NotFound(f"SDSS DR{self.data_release} has no spectrum {name}")
            try:
                _write_atomic(path, hdus[0])
            finally:  # astroquery hands back open files
                for hdul in hdus:
                    hdul.close()
            return path

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
        modes = ("hips", "frames") if self.cutouts == "hips" else ("frames",)
        for mode in modes:
            path = self.cube_path(ra, dec, size, mode)
            if path.is_file():
                cube = cutouts.read_cube(path)
                cube.meta["cutout_source"] = mode
                return cube
        if self.offline:
            raise CacheMiss(f"no cutout cube at {where} in the cache {self.cache_dir} (offline mode)")
        if self.cutouts == "hips":
            try:
                return self._cached_cube(ra, dec, size, "hips", self._hips_cube)
            except NetworkUnavailable:
                raise
            except (SDSSError, BadInputError) as exc:  # no HiPS data there, or hips2fits refused: the frames may have it
                log.info("HiPS cutout at %s unusable (%s); cutting it from the SDSS frames", where, exc)
        return self._cached_cube(ra, dec, size, "frames", self._frames_cube)

    def _cached_cube(self, ra: float, dec: float, size: int, mode: str,
                     make: Callable[[float, float, int], cutouts.Cube]) -> cutouts.Cube:
        """``make`` the cube of one mode and cache it, unless another thread did so meanwhile."""
        path = self.cube_path(ra, dec, size, mode)
        with self._lock(path):
            if path.is_file():
                cube = cutouts.read_cube(path)
            else:
                cube = make(ra, dec, size)
                path.parent.mkdir(parents=True, exist_ok=True)
                cutouts.write_cube(path, cube)
            cube.meta["cutout_source"] = mode
            return cube

    def _hips_cube(self, ra: float, dec: float, size: int) -> cutouts.Cube:
        answers = self._request("hips", ra=float(ra), dec=float(dec), size=int(size))
        images = {b: hips.band_image(hdul, b) for b, hdul in zip(BANDS, answers, strict=True)}
        return cutouts.make_cube(images, ra, dec, size)

    def _frames_cube(self, ra: float, dec: float, size: int) -> cutouts.Cube:
        """Cut from the SDSS frames covering the star; where fields overlap, each band uses the frame
        in which the star lies farthest from an edge."""
        by_band: dict[str, list[cutouts.BandImage]] = {}
        for hdul in self._request("frames", ra=float(ra), dec=float(dec)):
            image = frame_image(hdul)
            by_band.setdefault(image.band, []).append(image)
        missing = [b for b in BANDS if b not in by_band]
        if missing:
            raise NotFound(f"SDSS DR{self.data_release} has no {','.join(missing)} frame at RA {ra:.5f} Dec {dec:+.5f}")
        images = {b: best_image(by_band[b], ra, dec) for b in BANDS}
        return cutouts.make_cube(images, ra, dec, size)

    # -- request layer --------------------------------------------------------------------------
    def _request(self, kind: str, **params: Any) -> list[fits.HDUList]:
        """``_fetch`` behind the connectivity probe and retry with exponential backoff.

        Transient failures are retried; a 404 becomes ``NotFound``; anything else an ``SDSSError``
        naming the request. When the retries run out the host is probed again, and a network that
        went away mid-build raises ``NetworkUnavailable`` (stop) rather than failing every remaining
        star slowly; so do :attr:`max_consecutive_failures` exhausted requests in a row.
        """
        self.ensure_online()
        attempt = 0
        what = f"SDSS {kind} request {params}"
        while True:
            try:
                result = self._fetch(kind, **params)
            except Exception as exc:
                verdict = classify(exc)
                if verdict == "not_found":
                    self._succeeded()  # the server answered
                    raise NotFound(f"{what}: SDSS has no such file ({describe(exc)})") from exc
                if verdict == "permanent":
                    raise SDSSError(f"{what} failed: {describe(exc)}") from exc
                if self._network_problem:  # another request (thread) found the network gone meanwhile: stop too
                    raise self._unavailable(self._network_problem) from exc
                if attempt < self.retries:
                    log.info("%s failed (%s); retry %d of %d", what, describe(exc), attempt + 1, self.retries)
                    self._sleep(self.backoff * 2**attempt)
                    attempt += 1
                    continue
                self._gave_up(what, exc, attempt + 1)
            else:
                self._succeeded()
                return result

    def _succeeded(self) -> None:
        with self._failures_guard:
            self._failures_in_a_row = 0

    def _gave_up(self, what: str, exc: BaseException, attempts: int) -> None:
        """Raise for a request whose retries ran out: NetworkUnavailable when the network is gone, else SDSSError."""
        problem = self._probe()
        with self._failures_guard:
            self._failures_in_a_row += 1
            in_a_row = self._failures_in_a_row
        if not problem and in_a_row >= self.max_consecutive_failures:
            problem = f"SDSS failed {in_a_row} requests in a row after {attempts} attempts each (last: {describe(exc)})"
        if problem:
            self._online, self._network_problem = False, problem
            raise self._unavailable(problem) from exc
        raise SDSSError(f"{what} failed after {attempts} attempts: {describe(exc)}") from exc

    def _fetch(self, kind: str, **params: Any) -> list[fits.HDUList]:
        """The only code that talks to SDSS (and CDS): one astroquery call, no cache and no retry.

        Kinds: 'spectrum' by plate/mjd/fiber or by ra/dec (the science-primary spectrum of the
        nearest primary object within 2″), 'frames' (every band of each distinct field holding
        ra/dec) and 'hips' (one hips2fits cutout per band, in BANDS order).
        """
        if kind == "hips":
            return self._fetch_hips(**params)
        SDSS = self._client()
        common = dict(timeout=self.timeout, data_release=self.data_release, cache=False)
        if "ra" in params:
            coords = dict(coordinates=SkyCoord(params["ra"], params["dec"], unit="deg"), radius=CROSSMATCH_ARCSEC * u.arcsec)
        if kind == "spectrum" and "plate" in params:
            # our own SQL, not get_spectra(plate=...): that asks query_specobj with fields=, which loses every
            # column when SkyServer's column list cannot be fetched (astroquery #2708), and keeps all versions
            matches = SDSS.query_sql(specobj_sql(int(params["plate"]), int(params["mjd"]), int(params["fiber"])), **common)
            if matches is None or len(matches) == 0:
                return []
            result = SDSS.get_spectra(matches=matches[[choose_spectrum(matches)]], show_progress=False, **common)
        elif kind == "spectrum":
            # photoobj_fields/specobj_fields, not fields=: astroquery checks fields= against a column list
            # it fetches first and silently drops the names when that look-up fails (astroquery #2708)
            matches = SDSS.query_crossid(**coords, photoobj_fields=["ra", "dec"], specobj_fields=SPECTRUM_FIELDS,
                                         spectro=True, **common)
            if matches is None or len(matches) == 0:
                return []
            result = SDSS.get_spectra(matches=matches[[choose_spectrum(matches)]], show_progress=False, **common)
        elif kind == "frames":  # one position query, then every band of each distinct field once
            matches = SDSS.query_crossid(**coords, photoobj_fields=FRAME_FIELDS, **common)
            if matches is None or len(matches) == 0:
                return []
            fields = unique(matches, keys=FRAME_FIELDS)
            result = SDSS.get_images(matches=fields, band="".join(BANDS), show_progress=False, **common)
        else:
            raise ValueError(f"unknown request kind {kind!r}")
        return list(result or [])

    def _fetch_hips(self, ra: float, dec: float, size: int) -> list[fits.HDUList]:
        """Five hips2fits answers (u, g, r, i, z); HTTP statuses become errors that ``classify`` understands."""
        import requests

        client = self._hips_client()
        answers = []
        for band in BANDS:
            response = client._request("GET", client.server, params=hips.payload(band, ra, dec, size),
                                       timeout=self.timeout, cache=False)
            if response.status_code != 200:
                raise requests.HTTPError(f"hips2fits {band}: HTTP {response.status_code} {response.text[:200]}", response=response)
            answers.append(fits.HDUList.fromstring(response.content))
        return answers

    def _hips_client(self):
        client = getattr(self._local, "hips", None)
        if client is None:
            from astroquery.hips2fits import hips2fitsClass

            client = self._local.hips = hips2fitsClass()
        return client

    def _client(self):
        """This thread's astroquery SDSS client: a requests session is not meant to be shared by threads."""
        client = getattr(self._local, "client", None)
        if client is None:
            from astroquery.sdss import SDSSClass

            # astroquery warns on every query when SkyServer's column list cannot be fetched; with
            # photoobj_fields/specobj_fields that list is not needed, so the warning is only noise
            warnings.filterwarnings("ignore", message="Field info are not available", module="astroquery.sdss")
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
            raise self._unavailable(self._network_problem)
        self._online = True

    def _unavailable(self, problem: str) -> NetworkUnavailable:
        """The stop message: what failed, then how this caller's user works from the cache instead."""
        return NetworkUnavailable(f"{problem}; check the network, {self.offline_hint} {self.cache_dir}")

    def _probe(self) -> str:
        """An empty string when the SDSS host answers, else the reason it does not (without advice)."""
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
        return f"cannot reach SDSS ({SDSS_HOST}: {problem})"


def frame_image(hdul: fits.HDUList) -> cutouts.BandImage:
    """The calibrated image (nanomaggies), band (FILTER keyword) and WCS of an SDSS ``frame`` file in memory."""
    head = hdul[0].header
    field_no = head.get("FRAME", head.get("FIELD", "?"))  # real frame headers call the field FRAME
    name = f"SDSS frame (run {head.get('RUN', '?')}, camcol {head.get('CAMCOL', '?')}, field {field_no})"
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
