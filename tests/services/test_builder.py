"""The SDSS data-set builder against a replaced request layer, and its star selection on the real catalogs."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from sdss_files import SDSS_LOGLAM0, hips_answer, sdss_frame, served_spectrum, smooth_flux

from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.progress import Cancelled, CancelToken
from bhb_viewer.core.readers.candidates import read_candidates
from bhb_viewer.services.builder import _Ahead, build_from_sdss, paper_stars, resolve_catalog
from bhb_viewer.services.sdss import NetworkUnavailable, SDSSService

SIZE = 16
LOGLAM = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)
ARCSEC = 1 / 3600


class FakeSDSS:
    """Serves a spectrum for any plate except 999 and frames with a star at the requested position."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path / "served"
        self.tmp.mkdir(parents=True)
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, kind: str, **p):
        self.calls.append((kind, p))
        if kind == "spectrum":
            if p["plate"] == 999:
                return []
            return [served_spectrum(self.tmp, p["plate"], p["mjd"], p["fiber"], LOGLAM, offset=p["fiber"])]
        if kind == "hips":
            return [hips_answer(p["ra"], p["dec"], p["size"] + 8) for _ in BANDS]
        return [sdss_frame(p["ra"], p["dec"], band) for band in BANDS]


@pytest.fixture
def catalogs(tmp_path):
    """3 BHBs; 6 blue stragglers: one 1″ from a BHB, one LAMOST, one unknown to SDSS, one by specobjid only."""
    folder = tmp_path / "catalogs"
    folder.mkdir()
    Table({"plate": [300, 300, 301], "mjd": [51600, 51600, 51601], "fiber": [1, 2, 3],
           "ra": [10.0, 10.1, 10.2], "dec": [5.0, 5.0, 5.0], "g": [16.0, 17.0, 18.0]}).write(folder / "bhb.csv")
    specobjid = (740 << 50) | (101 << 38) | ((52263 - 50000) << 24)
    Table({"FileName": ["spec-0400-51700-0010", "spec-0400-51700-0011", "spec-56982-HD0_sp04-010",
                        "spec-0999-51700-0012", "", "spec-0401-51701-0013"],
           "specObjID": [1, 2, 269504010, 3, specobjid, 4],
           "ra": [20.0, 10.0 + 1 * ARCSEC, 30.0, 40.0, 50.0, 60.0], "dec": [1.0, 5.0, 2.0, 3.0, 4.0, 5.0],
           "label": ["BSS"] * 6}).write(folder / "bss.csv")
    return folder


def service(tmp_path, fetch=None, **kwargs) -> SDSSService:
    svc = SDSSService(tmp_path / "cache", sleep=lambda s: None, **kwargs)
    svc.network.online = True
    svc.network.probe = lambda: ""
    if fetch is not None:
        svc._fetch = fetch
    return svc


def test_build_fetches_rejects_with_reasons_and_rebuilds_offline_from_cache(tmp_path, catalogs):
    fetch = FakeSDSS(tmp_path)
    events = []
    report = build_from_sdss(
        tmp_path / "ds", catalogs / "bhb.csv", catalogs / "bss.csv", service=service(tmp_path, fetch), size=SIZE,
        progress=events.append,
    )
    # 3 BHBs + 4 SDSS stragglers left after the cross-match; plate 999 is unknown to SDSS
    assert (report.count, report.n_bhb, report.n_non_bhb) == (6, 3, 3)
    assert report.rejected == [("999-51700-12", "SDSS DR17 has no spectrum spec-0999-51700-0012")]
    assert events[-1].done == events[-1].total == 7 and events[-1].stage == "sdss"

    ds = open_dataset(tmp_path / "ds")
    assert list(ds.catalog["id"]) == [
        "300-51600-1", "300-51600-2", "301-51601-3", "400-51700-10", "833193731698982912", "401-51701-13",
    ]
    assert ds.labels.tolist() == [1, 1, 1, 0, 0, 0]
    offset = int(round((3.6021 - SDSS_LOGLAM0) / 1e-4))
    np.testing.assert_allclose(
        ds.spectra[2], (smooth_flux(LOGLAM, 3) + 3)[offset : offset + 3522].astype("f4"), rtol=1e-6
    )
    assert ds.cutouts.shape == (6, 5, SIZE, SIZE)
    assert np.unravel_index(np.argmax(ds.cutouts[0, 2]), (SIZE, SIZE)) in {(7, 7), (7, 8), (8, 7), (8, 8)}
    prov = ds.manifest["provenance"]
    assert prov["builder"] == "sdss" and prov["n_negatives_near_positive"] == 1 and prov["n_negatives_not_sdss"] == 1
    assert prov["negatives_near_positive"] == ["400-51700-11"]
    assert prov["rejected"] == [{"id": "999-51700-12", "reason": report.rejected[0][1]}]
    assert (
        sum(kind == "spectrum" for kind, _ in fetch.calls) == 7 and sum(kind == "hips" for kind, _ in fetch.calls) == 6
    )

    never = FakeSDSS(tmp_path / "never")
    offline = service(tmp_path, never, offline=True)
    again = build_from_sdss(tmp_path / "ds2", catalogs / "bhb.csv", catalogs / "bss.csv", service=offline, size=SIZE)
    assert again.count == 6 and never.calls == []
    assert "not in the cache" in again.rejected[0][1]
    assert open_dataset(tmp_path / "ds2").manifest["sha256"] == ds.manifest["sha256"]


def test_fetches_run_in_parallel_and_come_back_in_catalog_order():
    barrier = threading.Barrier(3, timeout=5)  # breaks (and fails the test) unless 3 fetches run at once

    def fetch(row):
        if row.index < 3:
            barrier.wait()
        return str(row["id"])

    rows = Table({"id": list("abcdefg")})
    ahead = _Ahead(fetch, rows, workers=3)
    try:
        assert [ahead.get(row) for row in rows] == list("abcdefg")
    finally:
        ahead.close()


def test_no_network_stops_the_build_at_once_and_writes_nothing(tmp_path, catalogs, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    start = time.perf_counter()
    with pytest.raises(NetworkUnavailable, match="cannot reach SDSS"):
        build_from_sdss(
            tmp_path / "ds", catalogs / "bhb.csv", catalogs / "bss.csv", service=SDSSService(tmp_path / "cache")
        )
    assert time.perf_counter() - start < 1.0
    assert not (tmp_path / "ds").exists()


def test_offline_with_an_empty_cache_is_one_clear_error(tmp_path, catalogs):
    with pytest.raises(BadInputError, match=r"no usable star: all 7 were rejected .*not in the cache .*offline"):
        build_from_sdss(
            tmp_path / "ds", catalogs / "bhb.csv", catalogs / "bss.csv", service=service(tmp_path, offline=True)
        )


def test_cancel_stops_between_stars(tmp_path, catalogs):
    token = CancelToken()
    fetch = FakeSDSS(tmp_path)

    def cancel_after_first(event):
        token.cancel()

    with pytest.raises(Cancelled):
        build_from_sdss(tmp_path / "ds", catalogs / "bhb.csv", catalogs / "bss.csv", service=service(tmp_path, fetch),
                        size=SIZE, workers=1, progress=cancel_after_first, cancel=token)
    assert sum(kind == "spectrum" for kind, _ in fetch.calls) == 1
    assert not (tmp_path / "ds").exists()


def test_aliases_name_the_shipped_catalogs(shared_data, tmp_path, monkeypatch):
    folder = shared_data / "catalogs"
    assert resolve_catalog("xue2011", folder) == folder / "xue2011_bhb.dat"
    assert resolve_catalog("bss", folder).name == "bss_candidates.csv"
    assert resolve_catalog("barbosa2022", folder).name == "barbosa2022_bhb.csv"
    assert resolve_catalog(tmp_path / "mine.csv") == tmp_path / "mine.csv"
    monkeypatch.setenv("BHB_VIEWER_CATALOGS", str(folder))
    assert resolve_catalog("bss") == folder / "bss_candidates.csv"
    with pytest.raises(BadInputError, match=r"catalog 'xue2011' not found in .*BHB_VIEWER_CATALOGS"):
        resolve_catalog("xue2011", tmp_path)


def test_paper_selection_on_the_real_catalogs(shared_data):
    folder = shared_data / "catalogs"
    stars, stats = paper_stars(
        read_candidates(folder / "xue2011_bhb.dat"), read_candidates(folder / "bss_candidates.csv")
    )
    assert stats["n_negatives_near_positive"] == 51  # the shipped list's known contamination
    assert stats["n_negatives_not_sdss"] == 550  # LAMOST rows
    assert stats["n_positives"] == 4985 and stats["n_negatives_kept"] == 3183 - 51
    assert len(stars) == 4985 + 3132 and int(stars["label"].sum()) == 4985
    assert len(set(stars["id"])) == len(stars)
    assert not set(stats["negatives_near_positive"]) & set(stars["id"][stars["label"] == 0])


def test_specobjid_decoding_agrees_with_every_sdss_row_of_the_bss_list(shared_data):
    from bhb_viewer.services.sdss import decode_specobjid

    bss = read_candidates(shared_data / "catalogs" / "bss_candidates.csv")
    sdss = bss[~np.ma.getmaskarray(bss["plate"])]
    decoded = [decode_specobjid(int(s)) for s in sdss["specobjid"]]
    assert len(sdss) == 3183
    assert decoded == [
        (int(p), int(m), int(f)) for p, m, f in zip(sdss["plate"], sdss["mjd"], sdss["fiber"], strict=False)
    ]


def test_a_network_lost_mid_build_stops_writes_nothing_and_a_rerun_resumes(tmp_path, catalogs):
    import urllib.error

    fetch = FakeSDSS(tmp_path)
    served = fetch.__call__

    def dropping(kind, **p):
        if len(fetch.calls) >= 4:  # two stars' spectrum + cutouts, then the network goes
            raise urllib.error.URLError(OSError(101, "Network is unreachable"))
        return served(kind, **p)

    svc = service(tmp_path, dropping, retries=1)
    svc.network.probe = lambda: "cannot reach SDSS (skyserver.sdss.org: [Errno 101] Network is unreachable)"
    with pytest.raises(
        NetworkUnavailable, match=r"Network is unreachable.*Stopped with 2 of 7 stars fetched; nothing written"
    ):
        build_from_sdss(tmp_path / "ds", catalogs / "bhb.csv", catalogs / "bss.csv", service=svc, size=SIZE, workers=1)
    assert not (tmp_path / "ds").exists()

    again = FakeSDSS(tmp_path / "again")
    report = build_from_sdss(
        tmp_path / "ds", catalogs / "bhb.csv", catalogs / "bss.csv", service=service(tmp_path, again), size=SIZE,
        workers=1,
    )
    assert report.count == 6
    assert sum(kind == "spectrum" for kind, _ in again.calls) == 5  # the first two stars came from the cache
    ds = open_dataset(tmp_path / "ds")
    assert ds.manifest["provenance"]["cutouts"] == "hips" and set(ds.catalog["cutout_source"]) == {"hips"}


def test_negatives_near_any_known_bhb_are_dropped_and_listed(tmp_path, catalogs):
    Table({"ra": [20.0 + 1.5 / 3600, 70.0], "dec": [1.0, 0.0]}).write(catalogs / "other_bhb.csv")
    stars, stats = paper_stars(read_candidates(catalogs / "bhb.csv"), read_candidates(catalogs / "bss.csv"),
                               known_bhb={"other": read_candidates(catalogs / "other_bhb.csv")})
    assert stats["negatives_near_known_bhb"] == ["400-51700-10"] and stats["n_negatives_near_known_bhb"] == {"other": 1}
    assert stats["n_negatives_near_any_bhb"] == 2 and "400-51700-10" not in list(stars["id"])


@pytest.mark.remote_data
@pytest.mark.parametrize("mode", ["hips", "frames"])
def test_one_star_of_each_class_end_to_end_from_sdss(tmp_path, mode):
    """For real (``pytest -m remote_data``): the first Xue 2011 BHB and one SDSS blue straggler, both cutout modes."""
    folder = tmp_path / "catalogs"
    folder.mkdir()
    one_bhb = {"plate": [3141], "mjd": [55008], "fiber": [498], "ra": [331.047394], "dec": [6.292428]}
    Table(one_bhb).write(folder / "one_bhb.csv")
    Table({"FileName": ["spec-0740-52263-0101"], "ra": [342.5594], "dec": [13.35232]}).write(folder / "one_bss.csv")
    svc = SDSSService(tmp_path / "cache", cutouts=mode)
    report = build_from_sdss(tmp_path / "ds", folder / "one_bhb.csv", folder / "one_bss.csv", service=svc, known_bhb=(),
                             size=32, workers=2)
    assert report.count + len(report.rejected) == 2 and report.count >= 1, report.rejected
    ds = open_dataset(tmp_path / "ds")
    assert ds.manifest["provenance"]["cutouts"] == mode and ds.cutouts.shape[1:] == (5, 32, 32)
    assert np.all(ds.catalog["valid_fraction"] > 0.9)
