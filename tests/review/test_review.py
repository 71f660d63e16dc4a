"""The review without a window: open, navigate, vet, undo, filter, sort, the cut, agreement, reopen."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from bhb_viewer.core.sessions.verdicts import Session, VerdictKind
from bhb_viewer.review import Filter, InlineRunner, Review, SortOrder


def ids(review):
    return [str(review.source.ids[r]) for r in review.rows.visible_rows()]


def current_id(review):
    return review.current()[1]


def scored(review, p):
    review.rows.set_scores(np.arange(len(p)), np.asarray(p, dtype=float))


def test_opening_a_data_set_makes_a_session_and_shows_the_first_candidate(review, events, dataset):
    review.open_path(dataset)
    assert len(review.source) == 12 and review.rows.n == 12
    assert review.session.path == dataset / "tiny.session.sqlite"
    assert current_id(review) == "star000" and events.last("current") == (0,)
    assert events.last("counts_changed")[0].vetted == 0 and events.last("counts_changed")[0].total == 12
    assert events.last("undo_changed") == (False, False)
    source, references = events.last("opened")
    assert source is review.source and references[0].shape == references[1].shape
    # no model: every spectrum still gets its classical Balmer-line call, in the background job
    assert set(review.rows.column("classical")) <= {"pass", "fail", "no fit"} and review.scoring.classical.known
    assert review.recent.paths() == [str(review.session.path.resolve())]


def test_navigation_follows_the_visible_order_both_ways(review, dataset):
    review.open_path(dataset)
    assert review.browser.navigate("previous") == 0  # at the top it stays
    review.browser.navigate("next")
    review.browser.navigate("next")
    assert current_id(review) == "star002"
    review.browser.navigate("previous")
    assert current_id(review) == "star001"
    for cid in ("star002", "star003"):
        review.actions.set_verdict(cid, VerdictKind.BHB)
    assert review.browser.navigate("unvetted") == 4  # skips the vetted 2 and 3
    assert review.browser.navigate("previous_unvetted") == 1
    review.nav.set_current(0)
    assert review.browser.navigate("previous_unvetted") == 11  # wraps
    scored(review, np.linspace(0, 1, 12))  # star005 0.4545 and star006 0.5455 tie around the cut
    assert review.browser.navigate("uncertain") == 5
    assert review.browser.navigate("least_uncertain") == 0  # the surest unvetted call (P = 0, as far as P = 1)
    with pytest.raises(ValueError, match="unknown navigation"):
        review.browser.navigate("sideways")


def test_a_feature_adds_its_own_move(review, dataset):
    review.open_path(dataset)
    review.actions.set_note("star008", "check Hδ")

    def next_noted(rows, view):
        noted = np.flatnonzero(rows.column("note")[rows.visible_rows()] != "")
        later = noted[noted > view]
        return int(later[0]) if len(later) else -1

    review.nav.moves["noted"] = next_noted
    assert review.browser.navigate("noted") == 8
    assert review.browser.navigate("noted") == -1 and current_id(review) == "star008"


def test_jump_to_id_clears_a_filter_that_hides_the_candidate(review, events, dataset):
    review.open_path(dataset)
    review.browser.set_filter(Filter(text="star00"))
    assert len(review.rows.visible_rows()) == 10
    assert review.browser.jump_to_id("star007") and current_id(review) == "star007"
    assert review.browser.jump_to_id("star011") and current_id(review) == "star011"
    assert review.rows.filter.is_empty and events.last("filter_changed") == (Filter(),)
    assert not review.browser.jump_to_id("nobody") and current_id(review) == "star011"


def test_verdicts_advance_are_written_at_once_and_undo_redo_show_their_candidate(review, events, dataset):
    review.open_path(dataset)
    review.vetting.record_verdict(VerdictKind.BHB)
    assert current_id(review) == "star001"  # advanced
    review.vetting.record_verdict(VerdictKind.BLUE_STRAGGLER)
    review.vetting.record_note("broad lines")
    with Session.open(review.session.path) as other:  # durable the moment the call returned
        assert other.state("star000").verdict is VerdictKind.BHB
        assert other.state("star002").note == "broad lines"
    assert events.calls["saved"] == [("star000", "verdict:bhb"), ("star001", "verdict:blue_straggler"),
                                     ("star002", "note")]
    assert list(review.rows.column("verdict")[:3]) == ["BHB", "blue straggler", ""]
    assert events.last("counts_changed")[0].vetted == 2

    review.nav.set_current(7)
    review.vetting.undo()  # the note of star002: shown, gone
    assert current_id(review) == "star002" and review.session.state("star002") is None
    review.vetting.undo()
    assert current_id(review) == "star001" and review.rows.column("verdict")[1] == ""
    assert events.last("undo_changed") == (True, True)
    review.vetting.redo()
    assert review.session.state("star001").verdict is VerdictKind.BLUE_STRAGGLER
    assert events.last("counts_changed")[0].vetted == 2

    review.mode.auto_advance = False
    review.vetting.record_verdict(VerdictKind.OTHER)
    assert current_id(review) == "star001"


def test_a_write_that_fails_is_reported_and_changes_nothing(review, events, dataset, monkeypatch):
    review.open_path(dataset)

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(review.session, "set_verdict", full_disk)
    review.vetting.record_verdict(VerdictKind.BHB)
    title, text = events.last("error")
    assert title == "The verdict was NOT saved" and "No space left" in text
    assert review.rows.column("verdict")[0] == "" and "saved" not in events.calls


def test_the_cut_decides_the_models_call_disagreement_and_agreement(review, events, dataset):
    review.open_path(dataset)
    scored(review, [0.3, 0.6, 0.8, 0.1] + [np.nan] * 8)
    review.actions.set_verdict("star000", VerdictKind.BHB)  # P 0.3
    review.actions.set_verdict("star001", VerdictKind.BHB)  # P 0.6
    review.actions.set_verdict("star002", VerdictKind.NON_BHB)  # P 0.8
    review.actions.set_verdict("star004", VerdictKind.BHB)  # unscored: not comparable
    counts = review.actions.counts()
    assert (counts.vetted, counts.agree, counts.comparable) == (4, 1, 3)
    assert list(review.rows.column("disagrees")[:3]) == [True, False, True]

    review.browser.set_cut(0.25)
    counts = events.last("counts_changed")[0]
    assert (counts.agree, counts.comparable) == (2, 3)
    assert list(review.rows.column("disagrees")[:3]) == [False, False, True]
    review.browser.set_filter(Filter(state="disagrees"))
    assert ids(review) == ["star002"]
    review.browser.set_filter(Filter())
    review.nav.set_current(3)  # P 0.1 < 0.25: the model calls non-BHB
    review.vetting.accept_model_call()
    assert review.session.state("star003").verdict is VerdictKind.NON_BHB
    with pytest.raises(ValueError):
        review.browser.set_cut(1.5)


def test_filters_keep_the_candidate_on_show_when_they_can(review, dataset):
    review.open_path(dataset)
    scored(review, np.linspace(0, 1, 12))
    review.nav.set_current(5)
    review.browser.set_filter(Filter(score_range=(0.3, 0.9)))
    assert ids(review) == [f"star{i:03d}" for i in range(4, 10)]
    assert current_id(review) == "star005"
    review.browser.set_filter(Filter(score_range=(0.8, 1.0)))
    assert current_id(review) == "star009"  # the first listed, star005 is gone
    review.actions.set_note("star010", "Faint companion")
    review.browser.set_filter(Filter(text="faint"))
    assert ids(review) == ["star010"]
    review.browser.set_filter(Filter(state="unvetted", text="star01"))
    assert ids(review) == ["star010", "star011"]
    review.browser.set_filter(Filter())
    review.nav.set_current(-1)
    assert review.browser.navigate("next") == 0
    review.browser.set_filter(Filter(text="nobody"))
    assert review.current() is None and review.browser.navigate("next") == -1
    with pytest.raises(ValueError, match="unknown verdict state"):
        Filter(state="maybe")


def test_sorting_reorders_navigation_and_keeps_the_candidate(review, dataset):
    review.open_path(dataset)
    p = np.array([0.5, 0.9, 0.1, 0.7] + [np.nan] * 8)
    scored(review, p)
    review.nav.set_current(3)
    review.browser.set_sort(SortOrder("p", descending=True))
    assert ids(review)[:5] == ["star001", "star003", "star000", "star002", "star004"]  # unscored last
    assert current_id(review) == "star003"
    review.vetting.record_verdict(VerdictKind.BHB)
    assert current_id(review) == "star000"  # next in the sorted order
    review.browser.set_sort(SortOrder("id", descending=True))
    assert ids(review)[0] == "star011"
    review.browser.set_sort(None)
    assert ids(review)[0] == "star000"


def test_reopening_the_session_restores_verdicts_undo_and_recent(tmp_path, dataset):
    first = Review(tmp_path / "ud", InlineRunner(), reviewer="ana")
    first.open_path(dataset)
    first.vetting.record_verdict(VerdictKind.BHB)
    first.vetting.record_verdict(VerdictKind.MS_A)
    first.vetting.undo()
    path = first.session.path
    first.close()

    again = Review(tmp_path / "ud", InlineRunner(), reviewer="ana")  # undo is per reviewer (issue 12 item 6)
    seen = []
    again.events.undo_changed.connect(lambda u, r: seen.append((u, r)))
    again.open_path(path)  # through the session file
    assert again.session.path == path and len(again.source) == 12
    assert again.rows.column("verdict")[0] == "BHB" and again.rows.column("verdict")[1] == ""
    assert seen[-1] == (True, True)
    again.vetting.redo()
    assert again.session.state("star001").verdict is VerdictKind.MS_A
    assert again.actions.counts().vetted == 2
    assert again.recent.paths()[0] == str(path.resolve())
    again.close()


def test_a_changed_catalog_warns_and_verdicts_follow_their_ids(review, events, tmp_path):
    cat = tmp_path / "list.csv"
    Table({"id": ["a", "b"], "ra": [1.0, 2.0], "dec": [3.0, 4.0]}).write(cat)
    review.open_path(cat)
    review.browser.navigate("next")
    review.vetting.record_verdict(VerdictKind.OTHER)
    Table({"id": ["c", "b", "a"], "ra": [0.5, 2.0, 1.0], "dec": [0.0, 4.0, 3.0]}).write(cat, overwrite=True)
    review.open_path(cat)
    assert events.last("error")[0] == "The catalog changed"
    assert list(review.rows.column("verdict")) == ["", "other", ""]


def test_bad_files_are_reported_and_the_review_goes_on(review, events, dataset, tmp_path):
    bad = tmp_path / "broken.fits"
    bad.write_bytes(b"SIMPLE  = this is not FITS" * 10)
    review.open_path(bad)
    assert events.last("error")[0] == "Cannot open the file" and "broken.fits" in events.last("error")[1]
    assert review.source is None and events.calls["work_done"]
    review.open_files([dataset, tmp_path / "missing.csv"])
    assert review.source is not None
    review.attach.cutout(lambda: np.ones((5, 64, 64), np.float32), "a test cube")
    assert review.cube(0).sum() == 5 * 64 * 64 and events.last("data_changed") == (0,)
    assert events.last("notice") == ("cutouts from a test cube shown for star000",)


def test_the_active_model_scores_swaps_and_reuses_the_sessions_scores(review, events, dataset, tiny_checkpoint):
    review.open_path(dataset, tiny_checkpoint)
    p = review.rows.column("p").copy()
    assert np.isfinite(p).all() and events.last("model_ready")[0].name == "batmm"
    assert review.session.model.checkpoint == str(tiny_checkpoint)
    inputs = review.export_inputs()
    assert inputs["scores"]["star003"] == pytest.approx(p[3]) and inputs["checkpoint"] == tiny_checkpoint
    assert set(inputs["extra_columns"]) == {"d02", "fm", "b_hg", "c_hg", "classical_bhb", "valid_fraction",
                                            "p_bhb_unreliable", "p_bhb_spectrum", "p_bhb_image", "score_from",
                                            "teff_fit", "logg_fit", "feh_fit", "rv_fit", "chi2_fit", "box_bhb", "flags"}
    assert review.scoring.overlays(0) == (None, None)
    review.scoring.request_details(0)
    balmer, explanation = review.scoring.overlays(0)
    assert balmer is not None and explanation.band_weights.shape == (5,)

    # a swap (e.g. a training run just finished): old scores go, the list is re-scored, cached first
    review.scoring.set_model(tiny_checkpoint)
    assert np.allclose(review.rows.column("p"), p)
    assert len(events.calls["model_ready"]) == 2
    assert "12 scores of this model version from the session" in events.last("notice")[0]


def test_a_list_without_arrays_cannot_be_scored_and_says_why(review, events, tmp_path, tiny_checkpoint):
    cat = tmp_path / "list.csv"
    Table({"id": ["a"], "ra": [1.0], "dec": [2.0]}).write(cat)
    review.open_path(cat)
    review.scoring.score_all()
    assert events.last("error")[0] == "No model"
    review.scoring.set_model(tiny_checkpoint)
    assert events.last("model_status") == ("no spectra or cutouts: nothing to score",)
    review.scoring.score_all()
    assert events.last("error")[0] == "Nothing to score"
    assert not np.isfinite(review.rows.column("p")).any()


def test_a_failing_subscriber_is_logged_and_the_others_still_hear(caplog):
    from bhb_viewer.review import Event

    event, heard = Event("test"), []
    event.connect(lambda x: 1 / 0)
    event.connect(heard.append)
    event.emit(3)
    assert heard == [3]
    assert [r.getMessage() for r in caplog.records] == ["a subscriber of test failed"]
    caplog.clear()  # expected here; anywhere else the autouse check fails the test


def test_cancel_stops_every_kind_of_job_the_review_runs(review):
    """The job kinds are one enumeration; Cancel reaches each, the explanation job ("detail") included."""
    from bhb_viewer.review.jobs import JobKind

    cancelled = []
    review.runner.cancel = cancelled.append
    review.cancel_work()
    assert set(cancelled) == set(JobKind) and JobKind.DETAIL in cancelled
