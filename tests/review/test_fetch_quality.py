"""The review's SDSS batch fetch and the per-candidate spectrum quality, without Qt.

The SDSS request layer is a fake shaped like the real answers (spec files, hips2fits images);
nothing touches the network.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.table import Table
from sdss_files import SDSS_LOGLAM0, smooth_flux, write_spec
from sdss_files import FakeSDSSServer as Server

from bhb_viewer.core.dataset import write_dataset
from bhb_viewer.core.grid import CUTOUT_SIZE, NPIX
from bhb_viewer.core.readers.quality import MIN_VALID_FRACTION
from bhb_viewer.core.sessions.verdicts import VerdictKind
from bhb_viewer.services.batch_fetch import APP_OFFLINE_HINT
from bhb_viewer.services.sdss import SDSSService

LOGLAM = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)


def fake_service(review, tmp_path, server, probe: str = ""):
    """Every fetch of ``review`` goes through ``server`` (a new service per fetch, as in the app)."""
    made = []
    real = review.fetch.service(offline=False)
    assert real.offline_hint == APP_OFFLINE_HINT  # the app's advice: SDSS → Offline

    def make(offline: bool) -> SDSSService:
        svc = SDSSService(tmp_path / "cache", offline=offline, sleep=lambda s: None, retries=1,
                          offline_hint=real.offline_hint)
        svc.network.probe = lambda: probe
        svc._fetch = server
        made.append(svc)
        return svc

    review.fetch.service = make
    return made


@pytest.fixture
def catalog_file(tmp_path):
    path = tmp_path / "list.csv"
    Table({"id": ["a", "b", "c", "d"], "ra": [10.0, 11.0, 12.0, 13.0], "dec": [1.0, 1.0, 1.0, 1.0],
           "plate": [300, 999, 301, 302], "mjd": [51600] * 4, "fiber": [1, 2, 3, 4]}).write(path)
    return path


def test_the_whole_list_is_fetched_and_attached_as_it_arrives(review, events, catalog_file, tmp_path):
    review.open_path(catalog_file)
    server = Server(tmp_path)
    fake_service(review, tmp_path, server)
    assert review.fetch_sdss_rows(None) == 4
    source = review.source
    for row in (0, 2, 3):
        assert source.spectrum(row)[0].shape == (NPIX,) and source.cube(row).shape == (5, CUTOUT_SIZE, CUTOUT_SIZE)
    assert source.spectrum(1) is None and source.cube(1) is not None  # plate 999 has no spectrum
    assert {args[0] for args in events.calls["data_changed"]} == {0, 1, 2, 3}
    # the fetched spectra bring their valid fraction: SDSS-like, reliable
    fractions = review.rows.column("valid_fraction")
    assert np.all(fractions[[0, 2, 3]] > 0.99) and np.isnan(fractions[1])
    assert not review.rows.column("unreliable").any()
    title, text = events.last("error")
    assert title == "SDSS: 1 candidates incomplete" and "b: spectrum:" in text
    assert any("3 spectra and 4 cutouts for 4 of 4" in args[0] for args in events.calls["notice"])
    stages = {args[0].stage for args in events.calls["progress"]}
    assert "sdss-batch" in stages


def test_a_selection_then_the_list_resumes_without_asking_again(review, catalog_file, tmp_path):
    review.open_path(catalog_file)
    server = Server(tmp_path)
    fake_service(review, tmp_path, server)
    assert review.fetch_sdss_rows(np.array([2])) == 1
    asked = len(server.calls)
    assert review.fetch_sdss_rows(None) == 3  # row 2 has both parts: skipped
    plates = [p["plate"] for kind, p in server.calls[asked:] if kind == "spectrum"]
    assert 301 not in plates and sorted(plates) == [300, 302, 999]
    assert review.fetch_sdss_rows(np.array([0, 2])) == 0  # nothing missing: nothing submitted


def test_a_second_review_on_the_same_cache_gets_everything_without_a_request(review, catalog_file, tmp_path):
    review.open_path(catalog_file)
    fake_service(review, tmp_path, Server(tmp_path))
    review.fetch_sdss_rows(None)
    review.close()
    from bhb_viewer.review import InlineRunner, Review

    again = Review(tmp_path / "userdata2", InlineRunner(), reviewer="tester")
    again.open_path(catalog_file)
    server = Server(tmp_path)
    fake_service(again, tmp_path, server)
    again.fetch_sdss_rows(None)
    assert [kind for kind, p in server.calls] == ["spectrum"]  # only plate 999's miss is asked again
    assert again.source.cube(3) is not None and again.source.spectrum(3) is not None
    again.close()


def test_no_network_says_sdss_offline_and_prints_no_traceback(review, events, catalog_file, tmp_path, caplog):
    review.open_path(catalog_file)
    probe = "cannot reach SDSS (skyserver.sdss.org: [Errno -3] Temporary failure)"
    fake_service(review, tmp_path, Server(tmp_path), probe=probe)
    with caplog.at_level(logging.DEBUG):
        review.fetch_sdss_rows(None)
        review.fetch_sdss()  # the candidate on show, one at a time
    batch_title, batch_text = events.calls["error"][-2]
    single_title, single_text = events.calls["error"][-1]
    assert batch_title == "The SDSS fetch stopped" and single_title == "SDSS"
    for text in (batch_text, single_text):
        assert "SDSS → Offline" in text and "--offline" not in text and "cannot reach SDSS" in text
    assert not any(record.exc_info for record in caplog.records)
    assert review.source.spectrum(0) is None  # nothing attached, the review goes on
    review.vetting.record_verdict(VerdictKind.OTHER)
    assert review.session.state("a").verdict is VerdictKind.OTHER


def test_a_network_lost_midway_keeps_what_arrived(review, events, catalog_file, tmp_path):
    review.open_path(catalog_file)
    made = fake_service(review, tmp_path, Server(tmp_path, lose_after=2))
    review.fetch.workers = 1  # one candidate at a time: where the network goes is deterministic
    review.fetch_sdss_rows(None)
    assert made and review.source.spectrum(0) is not None and review.source.cube(0) is not None
    title, text = events.last("error")
    assert title == "The SDSS fetch stopped" and "Run the fetch again to resume" in text and "SDSS → Offline" in text


def test_a_partial_spectrum_file_opens_marked_unreliable(review, tmp_path):
    loglam = 3.6021 + 1e-4 * np.arange(2400)  # 4000–7000 Å: two thirds of the window
    path = write_spec(tmp_path / "spec-0500-52000-0010.fits", loglam, smooth_flux(loglam), np.ones(len(loglam)),
                      plate=500, mjd=52000, fiber=10)
    review.open_path(path)
    assert len(review.source) == 1
    quality = review.candidate(0).quality
    assert quality.valid_fraction == pytest.approx(2400 / NPIX, abs=1e-3)
    assert quality.valid_fraction < MIN_VALID_FRACTION
    assert quality.unreliable and "score is unreliable" in quality.flags[0]
    assert review.rows.column("unreliable")[0]
    extra = review.export_inputs()["extra_columns"]
    assert extra["p_bhb_unreliable"].tolist() == [True] and extra["valid_fraction"][0] == pytest.approx(0.681, abs=1e-3)


def test_a_data_set_without_the_columns_is_counted_and_its_resolution_flagged(review, events, tmp_path):
    n = 4
    rng = np.random.default_rng(0)
    ivar = np.full((n, NPIX), 0.25, np.float32)
    ivar[2, : NPIX // 2] = 0  # half the window masked
    catalog = Table({"id": [f"s{i}" for i in range(n)], "ra": np.arange(n, dtype=float), "dec": np.zeros(n),
                     "resolution": [2000.0, 600.0, np.nan, 2100.0]})
    path = write_dataset(tmp_path / "ds", catalog, rng.normal(10, 1, (n, NPIX)).astype(np.float32), ivar,
                         rng.normal(0, 1, (n, 5, 16, 16)).astype(np.float32), {"source": "test"})
    review.open_path(path)
    fractions = review.rows.column("valid_fraction")
    assert fractions.tolist() == pytest.approx([1.0, 1.0, 0.5, 1.0], abs=1e-3)
    assert review.rows.column("unreliable").tolist() == [False, False, True, False]
    def spectrum_warnings(flags):  # the resolution and valid-pixel ones (pure noise also gets trust flags: no star)
        return [f for f in flags if "R ≈" in f or "unreliable" in f]

    assert spectrum_warnings(review.candidate(0).quality.flags) == []
    low_res = review.candidate(1).quality
    assert not low_res.unreliable and len(spectrum_warnings(low_res.flags)) == 1 and "R ≈ 600" in low_res.flags[0]
    assert "score is unreliable" in review.candidate(2).quality.flags[0]


def test_a_verdict_that_was_not_saved_keeps_its_star_on_show(review, events, catalog_file, monkeypatch):
    review.open_path(catalog_file)

    def read_only(*args):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(review.session, "set_verdict", read_only)
    review.vetting.record_verdict(VerdictKind.BHB)
    assert review.current() == (0, "a")  # auto-advance did not move on
    title, text = events.last("error")
    assert title == "The verdict was NOT saved" and "Read-only" in text and "stays on show" in text
    monkeypatch.undo()
    review.vetting.record_verdict(VerdictKind.BHB)
    assert review.current() == (1, "b") and review.session.state("a").verdict is VerdictKind.BHB


def test_every_modalitys_score_reaches_the_candidate_and_the_export(review, dataset):
    from bhb_viewer.review.tasks import ScoreBatch

    review.open_path(dataset)
    rows = np.array([0, 1, 2])
    review.scoring._on_score(ScoreBatch(rows, np.array([0.9, 0.8, np.nan]), False, np.array([0.7, 0.8, np.nan]),
                                        np.array([0.6, np.nan, np.nan]), np.array(["fusion", "spectrum", "none"])))
    both, spectrum_only = review.candidate(0), review.candidate(1)
    assert (both.p_bhb, both.p_spectrum, both.p_image, both.score_from) == (0.9, 0.7, 0.6, "fusion")
    assert spectrum_only.score_from == "spectrum" and np.isnan(spectrum_only.p_image)
    extra = review.export_inputs()["extra_columns"]
    assert extra["score_from"][:3].tolist() == ["fusion", "spectrum", "none"]
    assert extra["p_bhb_spectrum"][:2].tolist() == [0.7, 0.8] and extra["score_from"][3] == ""
    review.rows.clear_scores()  # a new model: no head's score survives
    assert review.candidate(0).score_from == "" and np.isnan(review.candidate(0).p_spectrum)
    assert "score_from" not in review.export_inputs()["extra_columns"]


def test_fetched_candidates_are_scored_by_the_chosen_model_as_they_arrive(review, events, catalog_file, tmp_path,
                                                                          tiny_checkpoint):
    review.open_path(catalog_file, tiny_checkpoint)
    assert not np.isfinite(review.rows.column("p")).any()  # a catalog alone: nothing to score
    fake_service(review, tmp_path, Server(tmp_path))
    review.fetch_sdss_rows(None)
    p = review.rows.column("p")
    assert np.isfinite(p[[0, 2, 3]]).all() and np.isnan(p[1])  # b has no spectrum: unscored
    info = review.scoring.model.info
    assert set(review.session.scores.load(info.name, info.version)) == {"a", "c", "d"}  # cached for a reopen
    assert np.isfinite(review.candidate(0).p_bhb)


def test_a_spectrum_file_is_scored_from_its_spectrum_and_synthesised_colours(review, tmp_path):
    """The shipped model reads colours: a lone spectrum gives its g, r, i, and the heads stay beside the score."""
    from bhb_viewer.review.candidate_source import DEMO_MODEL, find_resource

    loglam = 3.6021 + 1e-4 * np.arange(3522)
    path = write_spec(tmp_path / "spec-0500-52000-0010.fits", loglam, smooth_flux(loglam), np.ones(len(loglam)),
                      plate=500, mjd=52000, fiber=10)
    review.open_path(path, find_resource(DEMO_MODEL))
    star = review.candidate(0)
    assert star.score_from == "spectrum+photometry" and np.isfinite(star.p_spectrum) and np.isnan(star.p_image)
    assert np.isfinite(star.p_bhb)
    assert review.export_inputs()["extra_columns"]["score_from"].tolist() == ["spectrum+photometry"]
    p_spectrum = star.p_spectrum
    review.open_path(path, find_resource(DEMO_MODEL))  # reopened: the scores and the heads come from the session
    again = review.candidate(0)
    assert again.score_from == "spectrum+photometry" and again.p_spectrum == pytest.approx(p_spectrum)
    assert np.isnan(again.p_image)


def test_a_fetched_cube_turns_a_spectrum_head_score_into_a_fusion_score(review, catalog_file, tmp_path):
    from bhb_viewer.review.candidate_source import DEMO_MODEL, find_resource

    review.open_path(catalog_file, find_resource(DEMO_MODEL))
    fake_service(review, tmp_path, Server(tmp_path))
    review.fetch_sdss()  # candidate a: its spectrum arrives first, then its cube
    star = review.candidate(0)
    assert star.score_from == "fusion" and np.isfinite(star.p_spectrum) and np.isfinite(star.p_image)
