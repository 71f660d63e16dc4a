"""SDSSService through astroquery's real code, with only the two HTTP stacks replaced.

astroquery sends SkyServer SQL and cross-id queries (and hips2fits requests) through
``BaseQuery._request`` (requests) and downloads spectra and frames through ``FileContainer``, which
reads with astropy's urllib-based ``get_readable_fileobj``. The fakes answer at exactly those two
points, with what the servers send: SkyServer's CSV (``#Table1`` then a header line), FITS bytes,
bzip2-compressed frames with real frame header keywords (RUN, CAMCOL, FRAME, FILTER; no FIELD),
and the error classes the real stacks raise (urllib's HTTPError/URLError, astroquery's
TimeoutError, a SkyServer error page that astroquery turns into RemoteServiceError).
"""

from __future__ import annotations

import bz2
import io
import socket
import urllib.error
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.utils.data import get_readable_fileobj
from astroquery.exceptions import TimeoutError as AstroqueryTimeout
from astroquery.hips2fits import hips2fitsClass
from astroquery.sdss import SDSSClass
from sdss_files import SDSS_LOGLAM0, gaussian_star, hips_answer, smooth_flux, stamp_wcs, write_spec

from bhb_viewer.core.grid import BANDS, PIXEL_SCALE_ARCSEC
from bhb_viewer.services import hips
from bhb_viewer.services.network_errors import classify
from bhb_viewer.services.sdss import NetworkUnavailable, NotFound, SDSSError, SDSSService
from bhb_viewer.services.sdss_wire import choose_spectrum

RA, DEC = 164.4311, 39.0359
LOGLAM = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)


class Response:
    """The parts of a requests.Response that astroquery and the service read."""

    def __init__(self, text: str = "", content: bytes = b"", status_code: int = 200, json_error: bool = False):
        self.text, self.content, self.status_code, self._json_error = text, content, status_code, json_error

    def json(self):
        if self._json_error:
            raise ValueError("Expecting value: line 1 column 1 (char 0)")  # what requests raises on an HTML page
        return {}

    def raise_for_status(self) -> None:
        pass


def csv(header: str, *rows: str) -> str:
    """SkyServer's CSV answer: a '#Table1' line, the column names, the rows."""
    return "\n".join(["#Table1", header, *rows]) + "\n"


def frame_bytes(band: str, run: int = 3900, camcol: int = 6, frame: int = 269, size: int = 120) -> bytes:
    """A bzip2-compressed frame as SDSS serves it: nanomaggy image, WCS, RUN/CAMCOL/FRAME/FILTER, plus a calib HDU."""
    wcs = stamp_wcs(RA, DEC, size)
    header = wcs.to_header()
    header.update(RUN=run, CAMCOL=camcol, FRAME=frame, FILTER=band, BUNIT="nanomaggy", RERUN="301")
    x, y = wcs.world_to_pixel_values(RA, DEC)
    image = gaussian_star((size, size), x, y, flux=10.0 * (BANDS.index(band) + 1), sky=0.01).astype("f4")
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(image, header), fits.ImageHDU(np.ones(size, "f4"))]).writeto(buf)
    return bz2.compress(buf.getvalue())


class FakeSDSS:
    """SkyServer, the SAS file server and hips2fits, answering astroquery's own requests.

    ``fail`` holds exceptions raised by the next requests of any kind; ``sql_errors`` SkyServer
    error pages for the next queries; ``missing`` file names the SAS answers 404 for.
    """

    def __init__(self, tmp_path: Path, monkeypatch, spectra_rows: str | None = None):
        self.folder = tmp_path / "sas"
        self.folder.mkdir()
        self.queries: list[str] = []
        self.downloads: list[str] = []
        self.urls: list[str] = []
        self.hips_params: list[dict] = []
        self.fail: list[BaseException] = []
        self.sql_errors = 0
        self.missing: set[str] = set()
        self.hips_status: list[int] = []
        self.hips_empty = False
        self.spectra_rows = spectra_rows or csv("ra,dec,run2d,plate,mjd,fiberID,specObjID,sciencePrimary,obj_id,type",
                                                f"{RA},{DEC},26,740,52263,101,833193731699009536,1,833193731699009536,STAR")
        for band in BANDS:
            (self.folder / f"frame-{band}-003900-6-0269.fits.bz2").write_bytes(frame_bytes(band))
        monkeypatch.setattr(SDSSClass, "_request", self._sql)
        monkeypatch.setattr(hips2fitsClass, "_request", self._hips)
        monkeypatch.setattr("astroquery.utils.commons.get_readable_fileobj", self._download)

    def spectrum(self, plate: int, mjd: int, fiber: int) -> None:
        write_spec(self.folder / f"spec-{plate:04d}-{mjd:05d}-{fiber:04d}.fits", LOGLAM, smooth_flux(LOGLAM, fiber),
                   np.ones(LOGLAM.size), plate=plate, mjd=mjd, fiber=fiber, ra=RA, dec=DEC)

    def _raise_next(self) -> None:
        if self.fail:
            raise self.fail.pop(0)

    def _sql(self, method, url, params=None, data=None, files=None, timeout=None, cache=None, **kwargs):
        self._raise_next()
        payload = dict(params or {}) | dict(data or {})
        if payload.get("format") == "json":  # the column-name look-up: failing here is astroquery issue 2708
            return Response("<html>Service Unavailable</html>", json_error=True)
        sql = str(payload.get("uquery") or payload.get("cmd"))
        self.queries.append(sql)
        if self.sql_errors:
            self.sql_errors -= 1
            return Response("error_message: SkyServer is busy, try later")
        if sql.split()[1] == "FROM" or sql.startswith("SELECT DISTINCT  FROM"):  # no columns: SkyServer says so
            return Response("error_message: Incorrect syntax near the keyword 'FROM'.")
        if "p.run" in sql:
            return Response(csv("run,rerun,camcol,field,type", "3900,301,6,269,STAR"))
        if "WHERE s.plate" in sql:  # the service's own SpecObjAll query by plate/mjd/fiber: two reductions
            plate, mjd, fiber = (int(sql.split(f"s.{k} = ")[1].split()[0]) for k in ("plate", "mjd", "fiberID"))
            return Response(csv("run2d,plate,mjd,fiberID,specObjID,sciencePrimary",
                                f"v5_7_0,{plate},{mjd},{fiber},2,0", f"26,{plate},{mjd},{fiber},1,1"))
        return Response(self.spectra_rows)

    def _hips(self, method, url, params=None, timeout=None, cache=None, **kwargs):
        self._raise_next()
        self.hips_params.append(dict(params))
        if self.hips_status:
            return Response('{"title": "busy"}', status_code=self.hips_status.pop(0))
        hdul = hips_answer(params["ra"], params["dec"], params["width"])
        if self.hips_empty:
            hdul[0].data[:] = np.nan
        buf = io.BytesIO()
        hdul.writeto(buf)
        return Response(content=buf.getvalue())

    @contextmanager
    def _download(self, url, **kwargs):
        self._raise_next()
        name = str(url).rsplit("/", 1)[-1]
        self.downloads.append(name)
        self.urls.append(str(url))
        if name in self.missing or not (self.folder / name).is_file():
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        with get_readable_fileobj(str(self.folder / name), encoding="binary") as f:  # decompresses .bz2 as astropy does
            yield f


def service(tmp_path, **kwargs) -> SDSSService:
    svc = SDSSService(tmp_path / "cache", sleep=lambda s: None, **kwargs)
    svc.network.online = True
    svc.network.probe = lambda: ""
    return svc


def test_spectrum_by_plate_mjd_fiber_through_astroquery(tmp_path, monkeypatch):
    sas = FakeSDSS(tmp_path, monkeypatch)
    sas.spectrum(740, 52263, 101)
    path = service(tmp_path).spectrum_file(740, 52263, 101)
    assert path.name == "spec-0740-52263-0101.fits" and sas.downloads == ["spec-0740-52263-0101.fits"]
    assert "s.run2d, s.plate, s.mjd, s.fiberID, s.specObjID, s.sciencePrimary FROM SpecObjAll" in sas.queries[0]
    # the science-primary reduction, not the other one SkyServer listed first
    assert "/redux/26/spectra/0740/" in sas.urls[0]
    with fits.open(path) as hdul:
        assert hdul[0].header["FIBERID"] == 101


def test_frames_query_asks_for_its_fields_even_when_the_column_lookup_fails(tmp_path, monkeypatch):
    """astroquery 2708: with fields= and a failed column look-up the query lost run/camcol/field."""
    sas = FakeSDSS(tmp_path, monkeypatch)
    cube = service(tmp_path, cutouts="frames").cube(RA, DEC, size=32)
    assert "p.run, p.rerun, p.camcol, p.field" in sas.queries[0]
    assert sorted(sas.downloads) == sorted(f"frame-{b}-003900-6-0269.fits.bz2" for b in BANDS)
    assert cube.meta["cutout_source"] == "frames" and cube.data.shape == (5, 32, 32)
    # from FRAME: frames have no FIELD
    assert cube.meta["sources"]["r"] == "r SDSS frame (run 3900, camcol 6, field 269)"
    peak = np.unravel_index(np.argmax(cube.data[2]), (32, 32))
    assert abs(peak[0] - 15.5) <= 0.5 and abs(peak[1] - 15.5) <= 0.5


def test_position_lookup_downloads_the_science_primary_spectrum(tmp_path, monkeypatch):
    rows = csv("ra,dec,run2d,plate,mjd,fiberID,specObjID,sciencePrimary,obj_id,type",
               f"{RA},{DEC},26,300,51600,9,1,0,1,STAR",  # a repeat observation, listed first
               f"{RA},{DEC},26,740,52263,101,833193731699009536,1,833193731699009536,STAR")
    sas = FakeSDSS(tmp_path, monkeypatch, spectra_rows=rows)
    sas.spectrum(300, 51600, 9)
    sas.spectrum(740, 52263, 101)
    path = service(tmp_path).spectrum_file_at(RA, DEC)
    assert "s.sciencePrimary" in sas.queries[0] and "p.ra" in sas.queries[0]
    assert sas.downloads == ["spec-0740-52263-0101.fits"]
    with fits.open(path) as hdul:
        assert hdul[0].header["PLATEID"] == 740


def test_choose_spectrum_without_a_primary_takes_the_lowest_specobjid():
    t = Table({"specObjID": np.array([9, 3, 5], np.uint64), "sciencePrimary": [0, 0, 0]})
    assert choose_spectrum(t) == 1
    t["sciencePrimary"] = [0, 0, 1]
    assert choose_spectrum(t) == 2


@pytest.mark.parametrize("error", [
    urllib.error.HTTPError("https://data.sdss.org/x.fits", 503, "Service Unavailable", None, None),
    urllib.error.URLError(ConnectionResetError(104, "Connection reset by peer")),
    urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution")),
    AstroqueryTimeout("Query timed out, time elapsed 60.0s"),
    TimeoutError("The read operation timed out"),  # what socket.timeout is since Python 3.10
], ids=["http-503", "reset", "dns", "astroquery-timeout", "read-timeout"])
def test_transient_errors_of_every_stack_are_retried(tmp_path, monkeypatch, error):
    sas = FakeSDSS(tmp_path, monkeypatch)
    sas.spectrum(740, 52263, 101)
    sas.fail = [error, error]
    slept: list[float] = []
    svc = SDSSService(tmp_path / "cache", sleep=slept.append, backoff=0.5)
    svc.network.online, svc.network.probe = True, lambda: ""
    assert svc.spectrum_file(740, 52263, 101).is_file()
    assert slept == [0.5, 1.0]


def test_a_skyserver_error_page_is_retried(tmp_path, monkeypatch):
    sas = FakeSDSS(tmp_path, monkeypatch)
    sas.spectrum(740, 52263, 101)
    sas.sql_errors = 1  # astroquery raises RemoteServiceError for it
    assert service(tmp_path).spectrum_file(740, 52263, 101).is_file()
    assert len(sas.queries) == 2


def test_a_404_is_reported_as_not_found(tmp_path, monkeypatch):
    FakeSDSS(tmp_path, monkeypatch)  # SkyServer knows the spectrum; the file server has no such file
    with pytest.raises(NotFound, match=r"no spectrum spec-0740-52263-0101 .*HTTP 404 Not Found"):
        service(tmp_path).spectrum_file(740, 52263, 101)


def test_requests_that_keep_failing_stop_the_job_although_the_host_answers(tmp_path, monkeypatch):
    sas = FakeSDSS(tmp_path, monkeypatch)
    sas.fail = [urllib.error.HTTPError("u", 503, "Service Unavailable", None, None)] * 100
    svc = service(tmp_path, retries=1, max_consecutive_failures=3)
    for fiber in (1, 2):
        with pytest.raises(SDSSError, match="failed after 2 attempts: HTTP 503") as err:
            svc.spectrum_file(740, 52263, fiber)
        assert not isinstance(err.value, NetworkUnavailable)
    with pytest.raises(NetworkUnavailable, match=r"SDSS failed 3 requests in a row .*--offline"):
        svc.spectrum_file(740, 52263, 3)
    calls = len(sas.fail)
    with pytest.raises(NetworkUnavailable):  # remembered: no more requests
        svc.spectrum_file(740, 52263, 4)
    assert len(sas.fail) == calls


def test_hips_cutouts_are_the_default_at_sdss_pixel_scale(tmp_path, monkeypatch):
    sas = FakeSDSS(tmp_path, monkeypatch)
    svc = service(tmp_path)
    cube = svc.cube(RA, DEC, size=32)
    assert cube.meta["cutout_source"] == "hips" and cube.data.shape == (5, 32, 32) and not cube.mask.any()
    assert [p["hips"] for p in sas.hips_params] == [f"CDS/P/SDSS9/{b}" for b in BANDS]
    p = sas.hips_params[0]
    assert (p["width"], p["height"], p["projection"], p["format"]) == (40, 40, "TAN", "fits")
    assert p["fov"] == pytest.approx(40 * PIXEL_SCALE_ARCSEC / 3600) and (p["ra"], p["dec"]) == (RA, DEC)
    peak = np.unravel_index(np.argmax(cube.data[0]), (32, 32))
    assert abs(peak[0] - 15.5) <= 0.5 and abs(peak[1] - 15.5) <= 0.5
    assert svc.cube_path(RA, DEC, 32, "hips").is_file() and sas.downloads == []  # no frame was fetched
    again = SDSSService(tmp_path / "cache", offline=True).cube(RA, DEC, size=32)
    np.testing.assert_array_equal(again.data, cube.data)


def test_hips_busy_is_retried_and_no_hips_data_falls_back_to_frames(tmp_path, monkeypatch):
    sas = FakeSDSS(tmp_path, monkeypatch)
    sas.hips_status = [503]
    assert service(tmp_path).cube(RA, DEC, size=32).meta["cutout_source"] == "hips"
    assert len(sas.hips_params) == 6  # the first band asked twice

    sas2_dir = tmp_path / "second"
    sas2_dir.mkdir()
    monkeypatch.undo()
    sas2 = FakeSDSS(sas2_dir, monkeypatch)
    sas2.hips_empty = True  # outside the HiPS: hips2fits answers NaN
    cube = service(sas2_dir).cube(RA, DEC, size=32)
    assert cube.meta["cutout_source"] == "frames" and len(sas2.downloads) == 5
    assert service(sas2_dir).cube(RA, DEC, size=32).meta["cutout_source"] == "frames"  # cached as frames


def test_hips_payload_and_empty_answer_are_judged_before_any_network():
    assert hips.payload("u", 1.0, 2.0, 64)["fov"] == pytest.approx(72 * 0.396 / 3600)
    empty = fits.HDUList([fits.PrimaryHDU(np.zeros((8, 8), "f4"))])
    with pytest.raises(Exception, match="no SDSS data there"):
        hips.band_image(empty, "u")


def test_classify_names_each_stack_s_errors():
    import requests
    from astropy.io.ascii import InconsistentTableError
    from astroquery.exceptions import RemoteServiceError

    response = requests.Response()
    response.status_code = 404
    assert classify(requests.HTTPError(response=response)) == "not_found"
    response.status_code = 429
    assert classify(requests.HTTPError(response=response)) == "transient"
    assert classify(urllib.error.HTTPError("u", 410, "Gone", None, None)) == "not_found"
    assert classify(urllib.error.HTTPError("u", 403, "Forbidden", None, None)) == "permanent"
    assert classify(RemoteServiceError("error_message")) == "transient"
    assert classify(InconsistentTableError("<html>")) == "transient"
    assert classify(TypeError("The file retrieved was empty.")) == "transient"
    assert classify(KeyError("plate")) == "permanent"


@pytest.mark.remote_data
@pytest.mark.parametrize("mode", ["hips", "frames"])
def test_one_star_end_to_end_from_sdss(tmp_path, mode):
    """For real (``pytest -m remote_data``): a spectrum of the BSS list (spec-0740-52263-0101) and a cube of
    the star of the shipped real stamps, in both cutout modes; the star lands at the cube's centre."""
    from bhb_viewer.core.readers.spectra import read_spectra

    svc = SDSSService(tmp_path, cutouts=mode)
    (spectrum,) = read_spectra(svc.spectrum_file(740, 52263, 101)).spectra
    assert spectrum.valid_fraction > 0.9
    cube = svc.cube(RA, DEC, size=32)
    assert cube.meta["cutout_source"] == mode and cube.data.shape == (5, 32, 32) and not cube.mask.all()
    r = cube.data[2]
    assert np.unravel_index(np.argmax(r), r.shape) in {(15, 15), (15, 16), (16, 15), (16, 16)}
