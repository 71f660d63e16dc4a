"""The only code that talks to SDSS (and CDS's hips2fits): one astroquery call per request.

No cache, no retry and no probe here (``sdss_network`` and ``sdss`` add those), so a test or a
mirror replaces one function, :meth:`SkyServerWire.fetch`, through ``SDSSService._fetch``. The
queries are written so that they survive SkyServer failing to hand out its column list
(astroquery #2708).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table, unique

from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.readers.candidates import CROSSMATCH_ARCSEC
from bhb_viewer.services import hips

FRAME_FIELDS = ["run", "rerun", "camcol", "field"]
SPECTRUM_FIELDS = ["run2d", "plate", "mjd", "fiberID", "specObjID", "sciencePrimary"]


def specobj_sql(plate: int, mjd: int, fiber: int) -> str:
    """SkyServer SQL for the spectra (all reductions) of one plate/MJD/fiber, with what a download needs."""
    return (f"SELECT s.{', s.'.join(SPECTRUM_FIELDS)} FROM SpecObjAll AS s "
            f"WHERE s.plate = {int(plate)} AND s.mjd = {int(mjd)} AND s.fiberID = {int(fiber)}")


def choose_spectrum(matches: Table) -> int:
    """Index of the spectrum to use among an object's spectra: the science-primary one, else the lowest specObjID.

    SkyServer returns an object's spectra in no particular order; SDSS marks one per object
    ``sciencePrimary`` (its best). Without that flag the lowest specObjID makes the choice repeatable.
    """
    names = {c.lower(): c for c in matches.colnames}
    primary = (np.asarray(matches[names["scienceprimary"]], int) == 1 if "scienceprimary" in names
               else np.zeros(len(matches), bool))
    ids = [int(v) for v in matches[names["specobjid"]]] if "specobjid" in names else list(range(len(matches)))
    return min(range(len(matches)), key=lambda i: (not primary[i], ids[i]))


class SkyServerWire:
    """astroquery's SDSS and hips2fits clients, one of each per thread (a requests session is not
    meant to be shared by threads).

    Parameters
    ----------
    timeout : seconds per request handed to astroquery.
    data_release : SDSS data release queried.
    """

    def __init__(self, timeout: float, data_release: int) -> None:
        self.timeout = timeout
        self.data_release = data_release
        self._local = threading.local()

    def fetch(self, kind: str, **params: Any) -> list[fits.HDUList]:
        """One request. Kinds: 'spectrum' by plate/mjd/fiber or by ra/dec (the science-primary spectrum
        of the nearest primary object within 2″), 'frames' (every band of each distinct field holding
        ra/dec) and 'hips' (one hips2fits cutout per band, in BANDS order)."""
        if kind == "hips":
            return self._fetch_hips(**params)
        if kind == "spectrum" and "plate" in params:
            return self._spectrum_by_plate(int(params["plate"]), int(params["mjd"]), int(params["fiber"]))
        if kind == "spectrum":
            return self._spectrum_at(params["ra"], params["dec"])
        if kind == "frames":
            return self._frames_at(params["ra"], params["dec"])
        raise ValueError(f"unknown request kind {kind!r}")

    def _common(self) -> dict[str, Any]:
        return dict(timeout=self.timeout, data_release=self.data_release, cache=False)

    @staticmethod
    def _around(ra: float, dec: float) -> dict[str, Any]:
        return dict(coordinates=SkyCoord(ra, dec, unit="deg"), radius=CROSSMATCH_ARCSEC * u.arcsec)

    def _spectrum_by_plate(self, plate: int, mjd: int, fiber: int) -> list[fits.HDUList]:
        # our own SQL, not get_spectra(plate=...): that asks query_specobj with fields=, which loses every
        # column when SkyServer's column list cannot be fetched (astroquery #2708), and keeps all versions
        matches = self._client().query_sql(specobj_sql(plate, mjd, fiber), **self._common())
        return self._download_spectrum(matches)

    def _spectrum_at(self, ra: float, dec: float) -> list[fits.HDUList]:
        # photoobj_fields/specobj_fields, not fields=: astroquery checks fields= against a column list
        # it fetches first and silently drops the names when that look-up fails (astroquery #2708)
        matches = self._client().query_crossid(**self._around(ra, dec), photoobj_fields=["ra", "dec"],
                                               specobj_fields=SPECTRUM_FIELDS, spectro=True, **self._common())
        return self._download_spectrum(matches)

    def _download_spectrum(self, matches: Table | None) -> list[fits.HDUList]:
        if matches is None or len(matches) == 0:
            return []
        chosen = matches[[choose_spectrum(matches)]]
        return list(self._client().get_spectra(matches=chosen, show_progress=False, **self._common()) or [])

    def _frames_at(self, ra: float, dec: float) -> list[fits.HDUList]:
        """One position query, then every band of each distinct field once."""
        client = self._client()
        matches = client.query_crossid(**self._around(ra, dec), photoobj_fields=FRAME_FIELDS, **self._common())
        if matches is None or len(matches) == 0:
            return []
        fields = unique(matches, keys=FRAME_FIELDS)
        return list(client.get_images(matches=fields, band="".join(BANDS), show_progress=False, **self._common())
                    or [])

    def _fetch_hips(self, ra: float, dec: float, size: int) -> list[fits.HDUList]:
        """Five hips2fits answers (u, g, r, i, z); HTTP statuses become errors that ``classify`` understands."""
        import requests

        client = self._hips_client()
        answers = []
        for band in BANDS:
            response = client._request("GET", client.server, params=hips.payload(band, ra, dec, size),
                                       timeout=self.timeout, cache=False)
            if response.status_code != 200:
                raise requests.HTTPError(f"hips2fits {band}: HTTP {response.status_code} {response.text[:200]}",
                                         response=response)
            answers.append(fits.HDUList.fromstring(response.content))
        return answers

    def _hips_client(self) -> Any:
        client = getattr(self._local, "hips", None)
        if client is None:
            from astroquery.hips2fits import hips2fitsClass

            client = self._local.hips = hips2fitsClass()
        return client

    def _client(self) -> Any:
        """This thread's astroquery SDSS client."""
        client = getattr(self._local, "client", None)
        if client is None:
            from astroquery.sdss import SDSSClass

            # astroquery warns on every query when SkyServer's column list cannot be fetched; with
            # photoobj_fields/specobj_fields that list is not needed, so the warning is only noise
            warnings.filterwarnings("ignore", message="Field info are not available", module="astroquery.sdss")
            client = self._local.client = SDSSClass()
        return client
