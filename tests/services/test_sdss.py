"""SDSSService without the network: the request layer is replaced by one serving generated FITS files."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import requests
from astropy.io import fits
from astropy.table import Table
from sdss_files import gaussian_star, stamp_wcs

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import BANDS
from bhb_viewer.services import sdss, sdss_cache
from bhb_viewer.services.sdss import CacheMiss, NetworkUnavailable, NotFound, SDSSError, SDSSService


def fake_spec(plate: int, mjd: int, fiber: int) -> fits.HDUList:
    """A minimal spec-lite file: COADD table on the SDSS grid, the plate/mjd/fiber in the header."""
    loglam = 3.58 + 1e-4 * np.arange(4000)
    coadd = Table({"loglam": loglam, "flux": np.full(4000, 10.0, "f4"), "ivar": np.ones(4000, "f4"),
                   "and_mask": np.zeros(4000, "i4")})
    primary = fits.PrimaryHDU()
    primary.header.update(PLATEID=plate, MJD=mjd, FIBERID=fiber)
    return fits.HDUList([primary, fits.BinTableHDU(coadd, name="COADD")])


RA, DEC = 164.4311, 39.0359


def fake_frame(band: str, centre_ra: float, field: int, size: int = 100) -> fits.HDUList:
    """An SDSS-like frame: nanomaggy image with WCS and RUN/CAMCOL/FIELD keywords, a star at (RA, DEC)."""
    k = BANDS.index(band)
    wcs = stamp_wcs(centre_ra, DEC, size, crpix=((size + 1) / 2 + 0.8 * k, (size + 1) / 2 - 0.5 * k))
    x, y = wcs.world_to_pixel_values(RA, DEC)
    header = wcs.to_header()
    header.update(FILTER=band, RUN=3900, CAMCOL=6, FIELD=field)
    image = gaussian_star((size, size), x, y, flux=10.0 * (k + 1), sky=0.01).astype("f4")
    return fits.HDUList([fits.PrimaryHDU(image, header)])


class Recorder:
    """A stand-in for ``SDSSService._fetch``: serves files, counts calls, can fail the first few."""

    def __init__(self, failures: list[BaseException] | None = None, missing: bool = False):
        self.calls: list[tuple[str, dict]] = []
        self.failures = list(failures or [])
        self.missing = missing

    def __call__(self, kind: str, **params):
        self.calls.append((kind, params))
        if self.failures:
            raise self.failures.pop(0)
        if self.missing:
            return []
        if kind == "frames":  # two overlapping fields, every band: the star sits near the edge of field 268
            near_edge = RA + 45 * 0.396 / 3600 / np.cos(np.radians(DEC))
            return [fake_frame(b, ra, field) for ra, field in ((near_edge, 268), (RA, 269)) for b in BANDS]
        return [fake_spec(params["plate"], params["mjd"], params["fiber"])]


def service(tmp_path, fetch, **kwargs) -> SDSSService:
    svc = SDSSService(tmp_path / "cache", sleep=kwargs.pop("sleep", lambda s: None), **kwargs)
    svc.network.online = True  # connectivity is tested on its own below
    svc.network.probe = lambda: ""
    svc._fetch = fetch
    return svc


def test_download_is_cached_and_second_call_uses_the_cache(tmp_path):
    fetch = Recorder()
    svc = service(tmp_path, fetch)
    path = svc.spectrum_file(740, 52263, 101)
    assert path == tmp_path / "cache" / "spectra" / "spec-0740-52263-0101.fits"
    with fits.open(path) as hdul:
        assert hdul[0].header["FIBERID"] == 101 and len(hdul["COADD"].data) == 4000
    assert svc.spectrum_file(740, 52263, 101) == path
    assert fetch.calls == [("spectrum", {"plate": 740, "mjd": 52263, "fiber": 101})]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left beside it


def test_cube_from_frames_is_centred_cached_and_served_offline(tmp_path):
    fetch = Recorder()
    cube = service(tmp_path, fetch, cutouts="frames").cube(RA, DEC, size=32)
    assert cube.data.shape == (5, 32, 32) and not cube.mask.any()
    assert fetch.calls == [("frames", {"ra": RA, "dec": DEC})] and cube.meta["cutout_source"] == "frames"
    assert all("field 269" in source for source in cube.meta["sources"].values())  # the frame holding it best
    assert cube.data.sum(axis=(1, 2)) == pytest.approx([10 * (k + 1) + 0.01 * 32 * 32 for k in range(5)], rel=0.02)
    for band in cube.data:
        peak_y, peak_x = np.unravel_index(np.argmax(band), band.shape)
        assert abs(peak_x - 15.5) <= 0.5 and abs(peak_y - 15.5) <= 0.5
    offline = SDSSService(tmp_path / "cache", offline=True)  # HiPS mode: a cached frames cube serves it too
    again = offline.cube(RA, DEC, size=32)
    np.testing.assert_array_equal(again.data, cube.data)
    with pytest.raises(CacheMiss, match=r"no cutout cube at RA 164.43110 Dec \+39.03590 .*offline"):
        offline.cube(RA, DEC, size=64)


def test_a_band_missing_from_sdss_is_not_found(tmp_path):
    svc = service(tmp_path, lambda kind, **p: [fake_frame(b, RA, 269) for b in "gri"], cutouts="frames")
    with pytest.raises(NotFound, match=r"no u,z frame at RA 164.43110"):
        svc.cube(RA, DEC, size=32)


def test_frames_that_miss_the_star_are_a_bad_input_not_a_crash(tmp_path):
    far = [fake_frame(b, RA + 120.0, 1) for b in BANDS]  # the star is on the far side of the projection
    with pytest.raises(BadInputError, match=r"lies outside every u image"):
        service(tmp_path, lambda kind, **p: far, cutouts="frames").cube(RA, DEC, size=32)


def test_offline_uses_cache_and_names_the_miss(tmp_path):
    service(tmp_path, Recorder()).spectrum_file(740, 52263, 101)
    never = Recorder()
    offline = SDSSService(tmp_path / "cache", offline=True)
    offline._fetch = never
    assert offline.spectrum_file(740, 52263, 101).is_file()
    with pytest.raises(CacheMiss, match=r"spec-0740-52263-0102 is not in the cache .*offline"):
        offline.spectrum_file(740, 52263, 102)
    assert never.calls == []


def test_specobjid_decodes_to_plate_mjd_fiber(tmp_path):
    assert sdss.decode_specobjid(833193731699009536) == (740, 52263, 101)  # spec-0740-52263-0101 in the BSS list
    with pytest.raises(ValueError, match="does not encode"):
        sdss.decode_specobjid(269504010)  # a LAMOST obsid
    fetch = Recorder()
    assert service(tmp_path, fetch).spectrum_file_by_specobjid(833193731699009536).name == "spec-0740-52263-0101.fits"
    with pytest.raises(NotFound):
        service(tmp_path, fetch).spectrum_file_by_specobjid(269504010)


def test_transient_failures_are_retried_with_exponential_backoff(tmp_path):
    slept: list[float] = []
    fetch = Recorder(failures=[requests.ConnectionError("reset"), requests.Timeout("slow")])
    svc = service(tmp_path, fetch, retries=3, backoff=0.5, sleep=slept.append)
    assert svc.spectrum_file(1, 51000, 1).is_file()
    assert len(fetch.calls) == 3 and slept == [0.5, 1.0]


def test_retries_give_up_with_a_clear_error(tmp_path):
    fetch = Recorder(failures=[TimeoutError("t")] * 5)
    svc = service(tmp_path, fetch, retries=2)
    with pytest.raises(SDSSError, match="failed after 3 attempts"):
        svc.spectrum_file(1, 51000, 1)
    assert len(fetch.calls) == 3
    assert not svc.spectrum_path(1, 51000, 1).exists()


def test_a_network_lost_mid_run_stops_instead_of_failing_each_star(tmp_path):
    fetch = Recorder(failures=[requests.ConnectionError("reset")] * 10)
    svc = service(tmp_path, fetch, retries=1)
    svc.network.probe = lambda: "cannot reach SDSS (skyserver.sdss.org: no route)"
    with pytest.raises(NetworkUnavailable, match="no route"):
        svc.spectrum_file(1, 51000, 1)
    with pytest.raises(NetworkUnavailable):  # remembered for the next star, with no new request
        svc.spectrum_file(1, 51000, 2)
    assert len(fetch.calls) == 2


def test_permanent_errors_are_not_retried(tmp_path):
    response = requests.Response()
    response.status_code = 403
    fetch = Recorder(failures=[requests.HTTPError("403 Client Error: Forbidden", response=response)])
    with pytest.raises(SDSSError, match="failed: HTTPError: 403 Client Error") as err:
        service(tmp_path, fetch).spectrum_file(1, 51000, 1)
    assert not isinstance(err.value, (NotFound, NetworkUnavailable)) and len(fetch.calls) == 1


def test_unknown_spectrum_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="no spectrum spec-0001-51000-0001"):
        service(tmp_path, Recorder(missing=True)).spectrum_file(1, 51000, 1)


def test_no_network_fails_fast_with_a_clear_message(tmp_path, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    fetch = Recorder()
    svc = SDSSService(tmp_path / "cache")
    svc._fetch = fetch
    start = time.perf_counter()
    with pytest.raises(NetworkUnavailable, match=r"cannot reach SDSS .*--offline"):
        svc.spectrum_file(740, 52263, 101)
    with pytest.raises(NetworkUnavailable):  # remembered: the next item fails without probing again
        svc.spectrum_file(740, 52263, 102)
    assert time.perf_counter() - start < 0.5
    assert fetch.calls == []


def test_a_hanging_resolver_is_cut_off_by_the_probe_timeout(tmp_path, monkeypatch):
    def hanging_resolver(*args, **kwargs):
        time.sleep(1)
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_resolver)
    svc = SDSSService(tmp_path / "cache", probe_timeout=0.05)
    start = time.perf_counter()
    with pytest.raises(NetworkUnavailable, match="no answer within 0.05 s"):
        svc.ensure_online()
    assert time.perf_counter() - start < 0.5


def test_cache_dir_argument_then_env_then_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(sdss_cache.CACHE_ENV, str(tmp_path / "env"))
    assert sdss_cache.default_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert sdss_cache.default_cache_dir() == tmp_path / "env"
    monkeypatch.delenv(sdss_cache.CACHE_ENV)
    assert sdss_cache.default_cache_dir().parts[-2:] == ("bhb_viewer", "sdss")


@pytest.mark.remote_data
def test_real_sdss_spectrum(tmp_path):
    path = SDSSService(tmp_path).spectrum_file(740, 52263, 101)
    with fits.open(path) as hdul:
        assert "COADD" in hdul


def test_fetch_asks_astroquery_once_per_distinct_field_for_all_bands(tmp_path, monkeypatch):
    """The real request layer, with astroquery's own calls replaced: arguments and field de-duplication."""
    from astroquery.sdss import SDSSClass

    seen = {}

    def query_crossid(self, coordinates, **kw):
        seen["crossid"] = (round(coordinates.ra.deg, 4), round(kw["radius"].to_value("arcsec"), 1), kw["data_release"])
        seen["crossid_fields"] = (kw.get("photoobj_fields"), kw.get("fields"))
        return Table({"run": [3900, 3900, 3901], "rerun": [301] * 3, "camcol": [6, 6, 6], "field": [269, 269, 12]})

    def get_images(self, matches, band, **kw):
        seen["images"] = (len(matches), band, kw["cache"], kw["timeout"])
        return ["hdul"] * (len(matches) * len(band))

    def query_sql(self, sql, **kw):
        seen["sql"] = sql
        return Table({"run2d": ["v5_7_0", "26"], "plate": [740, 740], "mjd": [52263, 52263], "fiberID": [101, 101],
                      "specObjID": [2, 1], "sciencePrimary": [0, 1]})

    def get_spectra(self, matches, **kw):
        seen["spectra"] = (list(matches["run2d"]), kw["data_release"], kw["cache"])
        return ["spec"]

    monkeypatch.setattr(SDSSClass, "query_crossid", query_crossid)
    monkeypatch.setattr(SDSSClass, "get_images", get_images)
    monkeypatch.setattr(SDSSClass, "get_spectra", get_spectra)
    monkeypatch.setattr(SDSSClass, "query_sql", query_sql)
    svc = SDSSService(tmp_path, timeout=7)
    assert svc._fetch("frames", ra=RA, dec=DEC) == ["hdul"] * 10
    assert seen["crossid"] == (RA, 2.0, 17) and seen["images"] == (2, "ugriz", False, 7)
    assert seen["crossid_fields"] == (["run", "rerun", "camcol", "field"], None)  # photoobj_fields=, never fields=
    assert svc._fetch("spectrum", plate=740, mjd=52263, fiber=101) == ["spec"]
    assert "WHERE s.plate = 740 AND s.mjd = 52263 AND s.fiberID = 101" in seen["sql"]
    assert seen["spectra"] == (["26"], 17, False)  # the science-primary reduction only


@pytest.mark.remote_data
def test_real_sdss_cube(tmp_path):
    cube = SDSSService(tmp_path).cube(RA, DEC, size=32)  # the star of the shipped real stamps
    assert cube.data.shape == (5, 32, 32) and not cube.mask.all()
    assert SDSSService(tmp_path, offline=True).cube(RA, DEC, size=32).data.shape == (5, 32, 32)


def test_a_request_in_retry_stops_when_another_found_the_network_gone(tmp_path):
    slept: list[float] = []
    fetch = Recorder(failures=[requests.ConnectionError("reset")] * 5)
    svc = service(tmp_path, fetch, retries=3, sleep=slept.append)
    # set by another thread
    svc.network.problem = "cannot reach SDSS (skyserver.sdss.org: [Errno 101] Network is unreachable)"
    with pytest.raises(NetworkUnavailable, match="Network is unreachable"):
        svc.spectrum_file(1, 51000, 1)
    assert len(fetch.calls) == 1 and slept == []
