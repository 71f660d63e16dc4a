"""Blind purity audit: sample size, Wilson interval, blind verdicts only, and the export's provenance."""

import math

import numpy as np
import pytest
from astropy.table import Table

from bhb_viewer.core.exports.export import export_catalog, read_provenance, threshold_summary
from bhb_viewer.core.sessions.audit import (
    audit_order,
    audit_result,
    audit_sample_size,
    draw_audit,
    is_blind,
    load_audit,
    start_audit,
    wilson_interval,
)
from bhb_viewer.core.sessions.merge import merge_sessions
from bhb_viewer.core.sessions.verdicts import CatalogRef, ModelRef, Session, VerdictKind

V = VerdictKind
Z = 1.959963984540054  # 97.5 % normal quantile


def test_wilson_interval_by_hand():
    # 45/50: p = .9, z^2/n = .0768292, centre = (.9 + .0384146) / 1.0768292 = .871461,
    # half = z * sqrt(.9 * .1 / 50 + z^2 / 10000) / 1.0768292 = .085063  ->  (.786398, .956524)
    lo, hi = wilson_interval(45, 50)
    assert lo == pytest.approx(0.786398, abs=2e-6) and hi == pytest.approx(0.956524, abs=2e-6)
    # 0/10: the lower end is 0 and the upper z^2 / (n + z^2)
    assert wilson_interval(0, 10) == pytest.approx((0.0, Z**2 / (10 + Z**2)))
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(8, 10, confidence=0.99)[0] < wilson_interval(8, 10)[0]


def test_sample_size_by_hand():
    # at p = .5 the Wilson half-width is z / (2 sqrt(n + z^2)), so n >= z^2 / (4 h^2) - z^2:
    # h = .05: 384.146 - 3.841 = 380.3 -> 381;  h = .1: 96.04 - 3.84 = 92.2 -> 93
    assert audit_sample_size(0.05, 100_000) == 381 and audit_sample_size(0.1, 100_000) == 93
    assert audit_sample_size(0.05, 200) == 200  # a small accepted set is audited whole
    assert audit_sample_size(0.05, 100_000, expected=0.9) < 381  # a pure set needs fewer
    with pytest.raises(ValueError):
        audit_sample_size(0.7, 100)


def test_draw_is_reproducible_and_only_from_accepted():
    scores = {f"c{i}": p for i, p in enumerate(np.linspace(0, 1, 1001))} | {"nan": math.nan}
    plan = draw_audit(scores, cut=0.5, half_width=0.1, seed=7)
    assert plan.population == 501 and len(plan.ids) == 93 and len(set(plan.ids)) == 93
    assert all(scores[c] >= 0.5 for c in plan.ids)
    assert plan.ids == draw_audit(scores, cut=0.5, half_width=0.1, seed=7).ids
    assert plan.ids != sorted(plan.ids, key=lambda c: int(c[1:]))  # random review order
    assert audit_order(plan, list(scores))[:3] == [int(c[1:]) for c in plan.ids[:3]]


def _catalog(tmp_path, n=400):
    rng = np.random.default_rng(1)
    ids = [f"s{i}" for i in range(n)]
    path = tmp_path / "cat.ecsv"
    Table({"id": ids, "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-10, 60, n)}).write(path)
    return path, ids, dict(zip(ids, rng.uniform(0, 1, n), strict=True))


def test_audit_counts_blind_verdicts_and_goes_into_export(tmp_path):
    path, ids, scores = _catalog(tmp_path)
    model = ModelRef("batmm-lite-sim", "1.0")
    with Session.create(tmp_path / "s.sqlite", CatalogRef.from_file(path, len(ids)), "alice", model) as s:
        s.scores.store(model, ids, list(scores.values()))
        accepted = [c for c in ids if scores[c] >= 0.6]
        s.set_verdict(accepted[0], V.BHB)  # seen with its score, before the audit: not blind
        plan = start_audit(s, scores, 0.6, half_width=0.1, seed=3)
        assert load_audit(s) == plan and is_blind(s, plan.ids[0]) and not is_blind(s, "not-there")
        n = len(plan.ids)
        assert plan.population == len(accepted) and n == audit_sample_size(0.1, len(accepted))
        first_before = accepted[0] in plan.ids
        todo = [c for c in plan.ids if c != accepted[0]]
        # blind verdicts: 3 unsure/bad data, 1 left pending, the rest 4 BHB : 1 non-BHB class
        for i, cid in enumerate(todo[:-1]):
            kind = V.UNSURE if i < 2 else V.BAD_DATA if i == 2 else V.BHB if i % 5 else V.OTHER if i % 2 else V.MS_A
            s.set_verdict(cid, kind, blind=True)
        s.set_verdict(todo[-1], V.BHB)  # after un-ticking Hide scores: not blind, the star stays pending
        blind = todo[:-1]
        n_bhb = sum(1 for i in range(3, len(blind)) if i % 5)
        judged = len(blind) - 3
        result = audit_result(s, plan)
        assert (result.n_sample, result.n_judged, result.n_bhb, result.n_excluded) == (n, judged, n_bhb, 3)
        assert result.n_pending == 1 + first_before
        assert result.purity == pytest.approx(n_bhb / judged)
        assert (result.low, result.high) == pytest.approx(wilson_interval(n_bhb, judged))

        val = threshold_summary([1, 1, 0, 1, 0, 1], [0.9, 0.8, 0.7, 0.65, 0.2, 0.1], 0.6)
        for suffix in ("fits", "ecsv", "csv", "xml"):
            out = export_catalog(tmp_path / f"e.{suffix}", Table.read(path), s, selection="model-accepted",
                                 threshold=val)
            prov = read_provenance(out)
            assert prov["PURITY"] == pytest.approx(0.75) and prov["PCUT"] == 0.6  # the validation estimate ...
            assert prov["AUDPUR"] == pytest.approx(n_bhb / judged)  # ... beside the blind one
            assert (prov["AUDLO"], prov["AUDHI"]) == pytest.approx((result.low, result.high))
            assert (prov["AUDN"], prov["AUDSAMP"], prov["AUDPOP"]) == (judged, n, len(accepted))
            assert prov["AUDCUT"] == 0.6 and prov["AUDCL"] == 0.95 and str(prov["AUDSEED"]) == "3"
        table = Table.read(tmp_path / "e.ecsv")
        # every audited star is model-accepted, but one a person called something else than BHB or
        # unsure leaves a model-accepted export (a person's verdict wins: core.exports.export.model_accepted)
        kept = [c for c in plan.ids if s.state(c) is None or s.state(c).verdict in (None, V.UNSURE, V.BHB)]
        assert int(np.sum(table["in_audit"])) == len(kept) < n


def test_merged_export_has_every_reviewer_and_the_consensus(tmp_path):
    path, ids, _ = _catalog(tmp_path, n=6)
    ref = CatalogRef.from_file(path, len(ids))
    given = {"alice": [V.BHB, V.BHB, V.MS_A, V.UNSURE, None, V.BHB],
             "bob": [V.BHB, V.NON_BHB, V.MS_A, V.BHB, V.OTHER, None]}
    for name, verdicts in given.items():
        with Session.create(tmp_path / f"{name}.sqlite", ref, name) as s:
            for cid, v in zip(ids, verdicts, strict=True):
                if v:
                    s.set_verdict(cid, v)
    merge_sessions([tmp_path / "alice.sqlite", tmp_path / "bob.sqlite"], tmp_path / "m.sqlite", "lead")
    with Session.open(tmp_path / "m.sqlite") as m:
        m.set_verdict("s1", V.NON_BHB)  # resolves the BHB/non-BHB conflict on s1
        out = export_catalog(tmp_path / "m.ecsv", Table.read(path), m, selection="all")
    t = Table.read(out)
    t = {name: [("" if x is np.ma.masked else x) for x in t[name]] for name in t.colnames}  # ECSV: "" reads back masked
    assert list(t["verdict_alice"]) == ["bhb", "bhb", "ms_a", "unsure", "", "bhb"]
    assert list(t["verdict_bob"]) == ["bhb", "non_bhb", "ms_a", "bhb", "other", ""]
    assert list(t["verdict"]) == ["bhb", "non_bhb", "ms_a", "", "other", "bhb"]
    assert list(t["conflict"]) == ["", "bhb", "", "unsure", "", ""]
    assert list(t["reviewer"]) == ["alice+bob", "lead", "alice+bob", "", "bob", "alice"]
    assert list(t["verdict_label"]) == [1, 0, 0, -1, -1, 1]
    prov = read_provenance(out)
    # on s0-s3 (both vetted): equal on s0 and s2 -> p_o = .5; alice B 2, A 1, U 1; bob B 2, N 1, A 1
    # p_e = (2*2 + 1*1) / 16 = 5/16; kappa = (.5 - .3125) / (1 - .3125) = 0.272727...
    assert prov["REVIEWRS"] == "alice,bob" and prov["NCONFL"] == 2 and prov["NUNRES"] == 1
    assert prov["KAPPAMTH"] == "cohen" and prov["NCOMMON"] == 4 and prov["KAPPA"] == pytest.approx(0.1875 / 0.6875)
