"""The app's batch fetch as a plain generator job: order, progress, cancel, resume from the cache, no network."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from sdss_files import SDSS_LOGLAM0
from sdss_files import FakeSDSSServer as Server

from bhb_viewer.core.grid import NPIX
from bhb_viewer.core.progress import Cancelled, CancelToken
from bhb_viewer.services.batch_fetch import APP_OFFLINE_HINT, BatchFetch, BatchSummary, FetchedItem
from bhb_viewer.services.sdss import SDSSService

LOGLAM = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)
SIZE = 16


def catalog() -> Table:
    return Table({"id": ["a", "b", "c", "d"], "ra": [10.0, 11.0, 12.0, 13.0], "dec": [1.0, 1.0, 1.0, 1.0],
                  "plate": [300, 999, 301, 302], "mjd": [51600] * 4, "fiber": [1, 2, 3, 4]})


def service(tmp_path, fetch, probe: str = "", **kwargs) -> SDSSService:
    svc = SDSSService(tmp_path / "cache", sleep=lambda s: None, retries=1, **kwargs)
    svc.network.probe = lambda: probe
    svc._fetch = fetch
    return svc


def run(job, cancel=None, events=None):
    return list(job(cancel or CancelToken(), (events if events is not None else []).append))


def test_whole_list_in_order_with_progress_and_a_summary(tmp_path):
    events = []
    out = run(BatchFetch(service(tmp_path, Server(tmp_path)), catalog(), size=SIZE), events=events)
    items, summary = out[:-1], out[-1]
    assert [i.id for i in items] == ["a", "b", "c", "d"] and [i.row for i in items] == [0, 1, 2, 3]
    assert all(isinstance(i, FetchedItem) for i in items) and isinstance(summary, BatchSummary)
    assert items[0].complete and items[0].spectrum.flux.shape == (NPIX,) and items[0].cube.shape == (5, SIZE, SIZE)
    assert items[0].cutout_source == "hips"
    assert (
        items[1].spectrum is None and items[1].cube is not None and "has no spectrum spec-0999" in items[1].problems[0]
    )
    assert (summary.done, summary.spectra, summary.cubes, summary.stopped) == (4, 3, 4, None)
    assert summary.failed == [("b", items[1].problems[0])]
    assert summary.message.startswith("SDSS: 3 spectra and 4 cutouts for 4 of 4 candidates; 1 with problems")
    assert [e.done for e in events] == [0, 1, 2, 3, 4] and events[-1].total == 4


def test_a_selection_skips_what_the_app_already_has(tmp_path):
    server = Server(tmp_path)
    out = run(BatchFetch(service(tmp_path, server), catalog(), rows=[3, 0, 2], skip=[0], size=SIZE))
    assert [i.row for i in out[:-1]] == [3, 2] and out[-1].total == 2
    assert {p["plate"] for kind, p in server.calls if kind == "spectrum"} == {302, 301}


def test_cancel_then_run_again_resumes_from_the_cache(tmp_path):
    server = Server(tmp_path)
    token = CancelToken()
    seen = []

    def cancel_after_first(event):
        if event.done == 1:
            token.cancel()

    job = BatchFetch(service(tmp_path, server), catalog(), size=SIZE, workers=1)
    with pytest.raises(Cancelled):
        for item in job(token, cancel_after_first):
            seen.append(item)
    assert [i.id for i in seen] == ["a"]
    before = len(server.calls)
    out = run(BatchFetch(service(tmp_path, server), catalog(), size=SIZE, workers=1))
    assert out[-1].done == 4
    asked_again = [p for kind, p in server.calls[before:] if kind == "spectrum"]
    assert {p["plate"] for p in asked_again} == {999, 301, 302}  # 'a' came from the cache


def test_no_network_is_one_summary_naming_the_app_control(tmp_path):
    svc = service(
        tmp_path, Server(tmp_path), probe="cannot reach SDSS (skyserver.sdss.org: [Errno -3] Temporary failure)"
    )
    svc.network.online = False
    out = run(BatchFetch(svc, catalog(), size=SIZE))
    assert len(out) == 1 and out[0].done == 0
    assert "SDSS → Offline" in out[0].stopped and "--offline" not in out[0].stopped
    assert APP_OFFLINE_HINT in out[0].message


def test_network_lost_midway_stops_with_what_arrived(tmp_path):
    server = Server(tmp_path, lose_after=4)  # a's spectrum and cube, b's (no spectrum) cube; c's spectrum fails
    svc = service(tmp_path, server)
    svc.network.online = True
    svc.network.probe = lambda: "cannot reach SDSS (skyserver.sdss.org: [Errno 101] Network is unreachable)"
    out = run(BatchFetch(svc, catalog(), size=SIZE, workers=1))
    summary = out[-1]
    assert [i.id for i in out[:-1]] == ["a", "b"]
    assert summary.stopped.startswith("cannot reach SDSS") and "SDSS → Offline" in summary.stopped
    assert "Run the fetch again to resume" in summary.stopped


def test_offline_serves_the_cache_and_names_each_miss(tmp_path):
    run(BatchFetch(service(tmp_path, Server(tmp_path)), catalog()[:1], size=SIZE))
    offline = SDSSService(tmp_path / "cache", offline=True)
    out = run(BatchFetch(offline, catalog()[:2], size=SIZE))
    assert out[0].complete and not out[1].complete
    assert "not in the cache" in out[1].problems[0] and out[-1].stopped is None
