"""Merging reviewers' sessions: conflicts, per-reviewer counts and κ against examples worked by hand."""

import math

import pytest

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.science.kappa import cohen_kappa, fleiss_kappa
from bhb_viewer.core.sessions.merge import conflict_kind, consensus, merge_report, merge_sessions, unresolved_conflicts
from bhb_viewer.core.sessions.verdicts import CandidateState, CatalogRef, ModelRef, Session, VerdictKind

V = VerdictKind
CAT = CatalogRef("/data/cands.ecsv", "ab" * 32, 20)
B, S, A, N, OT, X, U = V.BHB, V.BLUE_STRAGGLER, V.MS_A, V.NON_BHB, V.OTHER, V.BAD_DATA, V.UNSURE

# Two reviewers. c0-c9 vetted by both, c10 only by alice, c11 only by bob.
ALICE = {"c0": B, "c1": B, "c2": B, "c3": B, "c4": S, "c5": S, "c6": A, "c7": X, "c8": U, "c9": B, "c10": B}
BOB = {"c0": B, "c1": B, "c2": B, "c3": S, "c4": S, "c5": A, "c6": A, "c7": X, "c8": B, "c9": N, "c11": OT}
# By hand, on the 10 common candidates:
#   equal on c0 c1 c2 c4 c6 c7            -> p_o = 6/10 = 0.6
#   alice: B 5, S 2, A 1, X 1, U 1         bob: B 4, S 2, A 2, X 1, N 1
#   p_e = .5*.4 + .2*.2 + .1*.2 + .1*.1 + .1*0 + 0*.1 = .20 + .04 + .02 + .01 = 0.27
#   Cohen's kappa = (0.6 - 0.27) / (1 - 0.27) = 0.33 / 0.73 = 0.452054...
#   conflicts: c3 B/S -> bhb, c5 S/A -> class, c8 U/B -> unsure, c9 B/N -> bhb
COHEN = 0.33 / 0.73

# Three reviewers. d0-d4 vetted by all; d5 by alice and bob only; d6 by carol only.
ALICE3 = {"d0": B, "d1": B, "d2": S, "d3": X, "d4": U, "d5": B}
BOB3 = {"d0": B, "d1": B, "d2": S, "d3": B, "d4": U, "d5": N}
CAROL3 = {"d0": B, "d1": S, "d2": S, "d3": X, "d4": A, "d6": OT}
# By hand (Fleiss), m = 3 raters, N = 5 subjects d0-d4:
#   d0 B3 -> P = (9-3)/6 = 1;  d1 B2 S1 -> (4+1-3)/6 = 1/3;  d2 S3 -> 1;  d3 X2 B1 -> 1/3;  d4 U2 A1 -> 1/3
#   P_bar = (1 + 1/3 + 1 + 1/3 + 1/3) / 5 = 3/5
#   category totals of 15 ratings: B 6, S 4, X 2, U 2, A 1 -> P_e = (36 + 16 + 4 + 4 + 1) / 225 = 61/225
#   Fleiss' kappa = (3/5 - 61/225) / (1 - 61/225) = (74/225) / (164/225) = 74/164 = 0.451219...
#   conflicts: d1 B/S -> bhb, d3 X/B -> bad_data (bad data is not a class), d4 U/A -> unsure, d5 B/N -> bhb
FLEISS = 74 / 164


def _states(verdicts, reviewer):
    return {cid: CandidateState(v, "", reviewer, "2026-01-01T00:00:00+00:00") for cid, v in verdicts.items()}


def test_cohen_kappa_by_hand():
    common = [f"c{i}" for i in range(10)]
    assert cohen_kappa([ALICE[c] for c in common], [BOB[c] for c in common]) == pytest.approx(COHEN, abs=1e-12)
    assert cohen_kappa("aab", "aab") == 1.0
    assert math.isnan(cohen_kappa("aaa", "aaa"))  # one category only: chance agreement is 1


def test_fleiss_kappa_by_hand_and_equal_to_cohen_definition_limits():
    rows = [[r[d] for r in (ALICE3, BOB3, CAROL3)] for d in ("d0", "d1", "d2", "d3", "d4")]
    assert fleiss_kappa(rows) == pytest.approx(FLEISS, abs=1e-12)
    assert fleiss_kappa([["a", "a", "a"], ["b", "b", "b"]]) == 1.0
    with pytest.raises(ValueError):
        fleiss_kappa([["a", "b"], ["a"]])


def test_conflict_rules():
    assert conflict_kind([B, B]) is None and conflict_kind([U, U]) is None and conflict_kind([X, X]) is None
    assert conflict_kind([B, OT]) == "bhb" and conflict_kind([B, N, X]) == "bhb"
    assert conflict_kind([B, X]) == "bad_data" and conflict_kind([S, X, U]) == "bad_data"
    assert conflict_kind([B, U]) == "unsure" and conflict_kind([S, A]) == "class" and conflict_kind([N, S]) == "class"


def test_two_reviewer_report():
    report = merge_report({"alice": _states(ALICE, "alice"), "bob": _states(BOB, "bob")}).to_json()
    assert report["n_candidates"] == 12 and report["n_reviewers"] == 2 and report["n_common"] == 10
    assert report["kappa_method"] == "cohen" and report["kappa"] == pytest.approx(COHEN, abs=1e-6)
    assert report["conflicts"] == ["c3", "c5", "c8", "c9"] and report["n_conflicts"] == 4
    assert report["conflict_kinds"] == {"c3": "bhb", "c5": "class", "c8": "unsure", "c9": "bhb"}
    assert report["per_reviewer"]["alice"] == {
        "n_vetted": 11, "n_conflicts": 4,
        "counts": {"bhb": 6, "blue_straggler": 2, "ms_a": 1, "bad_data": 1, "unsure": 1}}
    assert report["per_reviewer"]["bob"]["counts"] == {
        "bhb": 4, "blue_straggler": 2, "ms_a": 2, "non_bhb": 1, "other": 1, "bad_data": 1}


def test_three_reviewer_report():
    reviews = {name: _states(v, name) for name, v in (("alice", ALICE3), ("bob", BOB3), ("carol", CAROL3))}
    report = merge_report(reviews).to_json()
    assert (report["n_candidates"], report["n_reviewers"], report["n_common"]) == (7, 3, 5)
    assert report["kappa_method"] == "fleiss" and report["kappa"] == pytest.approx(FLEISS, abs=1e-6)
    assert report["conflict_kinds"] == {"d1": "bhb", "d3": "bad_data", "d4": "unsure", "d5": "bhb"}
    assert {r: p["n_conflicts"] for r, p in report["per_reviewer"].items()} == {"alice": 4, "bob": 4, "carol": 3}


def _session(tmp_path, name, verdicts, catalog=CAT):
    with Session.create(tmp_path / f"{name}.sqlite", catalog, name) as s:
        for cid, v in verdicts.items():
            s.set_verdict(cid, v)
        s.set_note("c0", f"{name} looked twice")
        s.scores.store(ModelRef("m", "1"), ["c0", "c1"], [0.9, 0.2])
    return tmp_path / f"{name}.sqlite"


def test_merged_session_holds_every_reviewer_and_records_resolutions(tmp_path):
    a, b = _session(tmp_path, "alice", ALICE), _session(tmp_path, "bob", BOB)
    report = merge_sessions([a, b], tmp_path / "merged.sqlite", "lead")
    assert report.conflicts == {"c3": "bhb", "c5": "class", "c8": "unsure", "c9": "bhb"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice.sqlite", "bob.sqlite", "merged.sqlite"]
    with Session.open(tmp_path / "merged.sqlite") as merged:
        assert merged.owner == "lead" and merged.states() == {}
        reviews = merged.reviews()
        assert {r: {c: s.verdict for c, s in st.items() if s.verdict} for r, st in reviews.items()} == {
            "alice": ALICE, "bob": BOB}
        assert reviews["bob"]["c0"].note == "bob looked twice"
        assert merged.scores.load("m", "1") == {"c0": 0.9, "c1": 0.2}
        assert unresolved_conflicts(merged) == ["c3", "c5", "c8", "c9"]
        merged.set_verdict("c3", S)  # the lead resolves c3 as a blue straggler
        merged.set_verdict("c0", OT)  # and overrules an agreed one
        agreed = consensus(merged)
        assert agreed["c3"] == (S, "bhb", "lead") and agreed["c0"] == (OT, None, "lead")
        assert agreed["c1"] == (B, None, None) and agreed["c5"] == (None, "class", None)
        assert agreed["c10"] == (B, None, None) and agreed["c11"] == (OT, None, None)
        assert unresolved_conflicts(merged) == ["c5", "c8", "c9"]


def test_merge_refuses_mixed_catalogs_duplicate_owners_merged_inputs_and_overwrites(tmp_path):
    a, b = _session(tmp_path, "alice", ALICE), _session(tmp_path, "bob", BOB)
    other = tmp_path / "other"
    other.mkdir()
    c = _session(other, "carol", CAROL3, CatalogRef("/data/else.ecsv", "cd" * 32, 7))
    with pytest.raises(BadInputError, match="vets another catalog"):
        merge_sessions([a, c], tmp_path / "m1.sqlite", "lead")
    with pytest.raises(BadInputError, match="owns another"):
        merge_sessions([a, a], tmp_path / "m2.sqlite", "lead")
    merge_sessions([a, b], tmp_path / "m.sqlite", "lead")
    with pytest.raises(BadInputError, match="already a merged session"):
        merge_sessions([tmp_path / "m.sqlite", b], tmp_path / "m3.sqlite", "lead")
    with pytest.raises(BadInputError, match="already exists"):
        merge_sessions([a, b], tmp_path / "m.sqlite", "lead")
    assert not any(p.name.startswith(("m1", "m2", "m3", ".m")) for p in tmp_path.iterdir())
