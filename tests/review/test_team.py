"""TeamReview without Qt: a merged session's conflicts walked and resolved, the blind audit, and a
second window on the same session."""

import numpy as np
import pytest

from bhb_viewer.core.sessions.audit import wilson_interval
from bhb_viewer.core.sessions.merge import merge_sessions
from bhb_viewer.core.sessions.verdicts import CatalogRef, Session, VerdictKind
from bhb_viewer.review import Filter
from bhb_viewer.review.team import TeamReview

V = VerdictKind
IDS = [f"star{i:03d}" for i in range(12)]
ALICE = {"star000": V.BHB, "star001": V.BHB, "star002": V.MS_A, "star003": V.BAD_DATA, "star005": V.UNSURE}
BOB = {"star000": V.BHB, "star001": V.BLUE_STRAGGLER, "star002": V.MS_A, "star003": V.BHB, "star005": V.BHB,
       "star007": V.OTHER}
# common: star000 star001 star002 star003 star005; equal on star000, star002 -> p_o = 2/5
# alice: B 2, A 1, X 1, U 1; bob: B 3, S 1, A 1 -> p_e = (2*3 + 1*1) / 25 = 7/25
# Cohen kappa = (10/25 - 7/25) / (18/25) = 3/18 = 0.1667; conflicts star001 (bhb), star003 (bad_data), star005 (unsure)


def _merged(dataset, tmp_path):
    ref = CatalogRef.from_file(dataset / "catalog.ecsv", len(IDS))
    paths = []
    for name, verdicts in (("alice", ALICE), ("bob", BOB)):
        with Session.create(tmp_path / f"{name}.sqlite", ref, name) as s:
            for cid, v in verdicts.items():
                s.set_verdict(cid, v)
        paths.append(tmp_path / f"{name}.sqlite")
    merge_sessions(paths, tmp_path / "merged.sqlite", "lead")
    return tmp_path / "merged.sqlite"


def test_conflicts_are_walked_and_resolved_as_the_reviewer(review, dataset, tmp_path, events):
    team = TeamReview(review)
    changes = []
    team.changed.connect(lambda: changes.append(1))
    review.open_path(_merged(dataset, tmp_path))
    assert team.merged and changes
    assert team.report.kappa == pytest.approx(3 / 18) and team.report.kappa_method == "cohen"
    assert team.unresolved() == ["star001", "star003", "star005"]
    assert team.reviewer_verdicts("star001") == [("alice", V.BHB), ("bob", V.BLUE_STRAGGLER)]
    assert team.reviewer_verdicts("star007") == [("alice", None), ("bob", V.OTHER)]
    assert team.conflict_text(team.conflict("star003")) == "bad data against another verdict"
    assert team.status_text() == "alice, bob · Cohen κ 0.17 on 5 · 3 of 3 conflicts open"

    review.mode.auto_advance = False
    assert team.next_conflict() == 1 and review.current() == (1, "star001")
    assert team.next_conflict() == 3
    review.vetting.record_verdict(V.BAD_DATA)  # the resolution: a verdict of the person reviewing
    assert team.resolution("star003").reviewer == "tester"
    assert team.unresolved() == ["star001", "star005"]
    assert team.next_conflict() == 5 and team.next_conflict() == 1  # wraps
    review.vetting.undo()  # the resolver's undo takes back only the resolver's verdict
    assert team.unresolved() == ["star001", "star003", "star005"]
    review.vetting.redo()
    assert "2 of 3 conflicts open" in team.status_text()
    review.browser.set_filter(Filter(text="star000"))  # hides every conflict: the walk clears the filter
    assert review.rows.n > len(review.rows.visible_rows())
    assert team.next_conflict() == 1 and len(review.rows.visible_rows()) == 12
    assert "conflict" in review.nav.moves and "audit" in review.nav.moves


def test_blind_audit_hides_scores_and_reports_purity(review, dataset, tmp_path):
    team = TeamReview(review)
    review.open_path(dataset)
    with pytest.raises(ValueError, match="score the list first"):
        team.start_audit()
    p = np.linspace(0.05, 0.95, 12)  # star006..star011 have P(BHB) >= 0.5
    review.rows.set_scores(np.arange(12), p)
    review.browser.set_cut(0.5)
    plan = team.start_audit(half_width=0.2, seed=4)
    # n >= z^2 / (4 * 0.04) - z^2 = 24.0 - 3.8 -> 21 > the 6 accepted: all six are audited
    assert sorted(plan.ids) == IDS[6:] and team.audit_mode and team.in_audit("star006")
    review.mode.auto_advance = False
    order = []
    while (row := team.next_audit()) >= 0:
        order.append(IDS[row])
        review.vetting.record_verdict(V.BHB if len(order) < 5 else V.MS_A)
    assert order == plan.ids  # the sample's random order, each once
    result = team.audit_result()
    assert (result.n_bhb, result.n_judged, result.n_pending) == (4, 6, 0)
    assert (result.low, result.high) == pytest.approx(wilson_interval(result.n_bhb, result.n_judged))
    assert team.status_text().startswith(f"audit 6/6, purity {result.purity:.2f}")
    with pytest.raises(ValueError, match="already holds an audit"):
        team.start_audit()


def test_only_verdicts_given_with_the_scores_hidden_count_and_the_choice_is_kept(review, dataset, tmp_path):
    team = TeamReview(review)
    review.open_path(dataset)
    review.rows.set_scores(np.arange(12), np.linspace(0.05, 0.95, 12))
    review.browser.set_cut(0.5)
    plan = team.start_audit(half_width=0.2, seed=4)
    assert review.mode.scores_hidden and review.mode.advance_move == "audit"
    # auto-advance after an audit verdict goes to the next sample member, not the next row
    review.browser.show_row(IDS.index(plan.ids[0]))
    review.vetting.record_verdict(V.BHB)
    assert review.current()[1] == plan.ids[1]
    # after un-ticking Hide scores a verdict on a sampled star is not blind: it does not count
    team.set_audit_mode(False)
    assert not review.mode.scores_hidden and review.mode.advance_move == "next"
    review.vetting.record_verdict(V.BHB)
    result = team.audit_result()
    assert (result.n_judged, result.n_pending) == (1, len(plan.ids) - 1)
    assert "scores hidden" not in team.status_text() and team.status_text().startswith("audit 1/")
    events = [e for e in review.session.events() if e["action"] == "verdict"]
    assert [e["blind"] for e in events] == [1, 0]
    # the choice is remembered: reopened, the scores stay shown; hidden again, that is kept too
    review.open_path(dataset)
    assert not team.audit_mode and not review.mode.scores_hidden
    team.set_audit_mode(True)
    review.open_path(dataset)
    assert team.audit_mode and review.mode.scores_hidden
    # the same verdict given again blind now counts
    review.browser.show_row(IDS.index(plan.ids[1]))
    review.vetting.record_verdict(V.BHB)
    assert team.audit_result().n_judged == 2


def test_another_window_is_warned_about_and_its_verdicts_arrive(review, dataset, tmp_path, events):
    review.open_path(dataset)
    path = review.session.path
    review.close()
    with Session.open(path, reviewer="bob") as other:
        team = TeamReview(review)
        review.open_path(dataset)
        title, text = events.last("error")
        assert title == "This session is open in another window" and "bob" in text
        other.set_verdict("star004", V.OTHER)
        other.set_note("star009", "double-lined?")
        assert team.poll() == ["star004", "star009"]
        assert review.candidate(4).state.verdict is V.OTHER and review.rows.column("note")[9] == "double-lined?"
        assert events.last("candidate_changed") == (9,) and events.last("counts_changed")[0].vetted == 1
        assert team.poll() == []
        review.vetting.record_verdict(V.BHB)  # on star000
        assert other.undo().cid == "star009" and other.undo().cid == "star004"  # bob's own edits only
        assert team.poll() == ["star009", "star004"]
        assert review.candidate(4).state is None and review.candidate(0).state.verdict is V.BHB


def test_a_verdict_with_an_overlay_of_the_models_view_shown_is_not_blind(review, dataset):
    team = TeamReview(review)
    review.open_path(dataset)
    review.rows.set_scores(np.arange(12), np.linspace(0.05, 0.95, 12))
    review.browser.set_cut(0.5)
    plan = team.start_audit(half_width=0.2, seed=4)
    review.mode.auto_advance = False
    review.mode.show_overlays(("Attention",))  # the view says the attention map is on screen
    assert review.mode.scores_hidden and not review.mode.blind
    review.browser.show_row(IDS.index(plan.ids[0]))
    review.vetting.record_verdict(V.BHB)
    assert team.audit_result().n_judged == 0
    review.mode.show_overlays(())
    assert review.mode.blind
    review.vetting.record_verdict(V.BHB)  # the same verdict again, now blind: it counts
    assert team.audit_result().n_judged == 1
    assert [e["blind"] for e in review.session.events() if e["action"] == "verdict"] == [0, 1]


def test_hiding_the_scores_is_review_state_told_once_and_enter_records_nothing_meanwhile(review, dataset):
    team = TeamReview(review)
    review.open_path(dataset)
    review.rows.set_scores(np.arange(12), np.linspace(0.05, 0.95, 12))
    review.browser.set_cut(0.5)
    told = []
    review.mode.changed.connect(lambda: told.append(review.mode.scores_hidden))
    plan = team.start_audit(half_width=0.2, seed=4)
    assert told == [True]  # one change, said once, whoever shows it
    review.mode.auto_advance = False
    review.browser.show_row(IDS.index(plan.ids[0]))
    review.vetting.accept_model_call()  # the model's call would tell the hidden score
    assert review.session.state(plan.ids[0]) is None
    team.set_audit_mode(True)  # already hidden: nothing to tell
    team.set_audit_mode(False)
    assert told == [True, False]
    review.vetting.accept_model_call()  # scores shown: Enter records the model's call at the cut
    assert review.session.state(plan.ids[0]).verdict is V.BHB
