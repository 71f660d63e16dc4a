"""What a merged session or an audit adds to an export: every reviewer's verdict, the consensus,
agreement, and the blind audit's purity with its interval (next to the threshold chooser's
validation estimate, PURITY). ``core.exports.export.export_table`` calls :func:`session_extras` once.

For a merged session the ``verdict``/``verdict_label``/``reviewer``/``verdict_time`` columns hold the
consensus (the resolution where there is one, else the reviewers' common verdict; empty while in
conflict), and one ``verdict_<reviewer>`` column per reviewer sits beside them with ``conflict``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from bhb_viewer.core.sessions.audit import AUDIT_PROVENANCE_KEYS, audit_result, load_audit
from bhb_viewer.core.sessions.merge import consensus, is_merged, merge_report
from bhb_viewer.core.sessions.verdicts import Session

TEAM_PROVENANCE_KEYS: dict[str, str] = {
    "REVIEWRS": "reviewers merged into the session (comma-separated)",
    "NCONFL": "candidates the reviewers disagree on",
    "NUNRES": "of those, not resolved",
    "KAPPA": "agreement between the reviewers on candidates all of them vetted",
    "KAPPAMTH": "cohen (two reviewers) or fleiss (more)",
    "NCOMMON": "candidates every reviewer vetted (the KAPPA sample)",
    **AUDIT_PROVENANCE_KEYS,
}


def reviewer_column(name: str, taken: set[str]) -> str:
    """``verdict_<name>`` with the name reduced to letters, digits and underscores (unique among ``taken``)."""
    base = "verdict_" + (re.sub(r"\W+", "_", name, flags=re.ASCII).strip("_") or "reviewer")
    column, k = base, 2
    while column in taken:
        column, k = f"{base}_{k}", k + 1
    return column


def session_extras(session: Session | None, ids: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(columns in ``ids`` order, provenance keys) a session adds to an export; empty for a plain session."""
    columns: dict[str, np.ndarray] = {}
    prov: dict[str, Any] = {}
    if session is None:
        return columns, prov
    if is_merged(session):
        columns, prov = _merged_extras(session, ids)
    plan = load_audit(session)
    if plan is not None:
        prov.update(audit_result(session, plan).provenance(plan))
        sample = set(plan.ids)
        columns["in_audit"] = np.array([cid in sample for cid in ids], dtype=bool)
    return columns, prov


def _merged_extras(session: Session, ids: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    reviews = session.reviews()
    merged = consensus(session)
    columns: dict[str, np.ndarray] = {}
    for name, states in reviews.items():
        given = [states[c].verdict if c in states else None for c in ids]
        values = [v.value if v is not None else "" for v in given]
        columns[reviewer_column(name, set(columns))] = np.array(values, dtype=str)
    found = [merged.get(c) for c in ids]
    columns["verdict"] = np.array([m.verdict.value if m and m.verdict else "" for m in found], dtype=str)
    columns["verdict_label"] = np.array(
        [-1 if not m or not m.verdict or m.verdict.model_class is None else m.verdict.model_class for m in found],
        dtype=np.int16,
    )
    who, when = [], []
    own = session.states()
    for cid, m in zip(ids, found, strict=True):
        if m is None or m.verdict is None:
            who.append("")
            when.append("")
        elif m.resolved_by is not None:
            who.append(m.resolved_by)
            when.append(own[cid].time)
        else:  # the reviewers who gave the common verdict, and the latest of their times
            agreeing = [st[cid] for st in reviews.values() if cid in st and st[cid].verdict is m.verdict]
            who.append("+".join(s.reviewer for s in agreeing))
            when.append(max(s.time for s in agreeing))
    columns["reviewer"] = np.array(who, dtype=str)
    columns["verdict_time"] = np.array(when, dtype=str)
    columns["conflict"] = np.array([m.conflict or "" if m else "" for m in found], dtype=str)
    report = merge_report(reviews)
    prov: dict[str, Any] = {
        "REVIEWRS": ",".join(report.reviewers),
        "NCONFL": len(report.conflicts),
        "NUNRES": sum(1 for m in merged.values() if m.conflict and m.resolved_by is None),
        "KAPPAMTH": report.kappa_method,
        "NCOMMON": report.n_common,
    }
    if not math.isnan(report.kappa):  # FITS headers hold no NaN: an undefined kappa is left out
        prov["KAPPA"] = report.kappa
    return columns, prov
