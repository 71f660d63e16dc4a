"""Team vetting: merge several reviewers' sessions into one, find their conflicts, measure agreement.

A merged session is an ordinary session file (its owner is the person who merged, and its own
log holds the resolutions) plus a ``reviews`` table with every source reviewer's verdict in
force and a ``merged_from`` meta entry naming the sources. One source session counts as one
reviewer, its owner, whoever recorded individual verdicts in it.

Conflict rules (a candidate counts only where two or more reviewers gave it a verdict; notes alone
are not verdicts):

``bhb``       BHB against any non-BHB class (blue straggler, main-sequence A, non-BHB, other);
``bad_data``  otherwise, bad data against any other verdict (a data problem to look at first);
``unsure``    otherwise, unsure against a class;
``class``     otherwise, two different non-BHB classes (e.g. blue straggler against main-sequence A).

Equal verdicts agree, unsure with unsure and bad data with bad data included. Agreement is
Cohen's κ for two reviewers and Fleiss' κ for more, over the seven verdict kinds as recorded, on
the candidates every reviewer vetted. The consensus of a candidate is the merged session's own
verdict (a resolution) where there is one, else the reviewers' common verdict, else none.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.science.kappa import cohen_kappa, fleiss_kappa
from bhb_viewer.core.sessions.verdicts import CandidateState, Session, VerdictKind

MERGED_FROM = "merged_from"  # meta key of a merged session: its sources
CONFLICT_KINDS: dict[str, str] = {
    "bhb": "BHB against a non-BHB class",
    "bad_data": "bad data against another verdict",
    "unsure": "unsure against a class",
    "class": "two different non-BHB classes",
}
_NON_BHB_CLASSES = frozenset(k for k in VerdictKind if k.model_class == 0) | {VerdictKind.OTHER}

log = logging.getLogger(__name__)

Reviews = Mapping[str, Mapping[str, CandidateState]]  # reviewer -> candidate id -> state


def conflict_kind(verdicts: Sequence[VerdictKind]) -> str | None:
    """The conflict rule a candidate's verdicts meet (a key of CONFLICT_KINDS), None when they agree."""
    kinds = set(verdicts)
    if len(kinds) < 2:
        return None
    if VerdictKind.BHB in kinds and kinds & _NON_BHB_CLASSES:
        return "bhb"
    if VerdictKind.BAD_DATA in kinds:
        return "bad_data"
    if VerdictKind.UNSURE in kinds:
        return "unsure"
    return "class"


def id_order(cid: str) -> tuple:
    """Sort key for candidate ids: numbers by value, then other ids as text."""
    return (0, int(cid), "") if cid.isdigit() else (1, 0, cid)


@dataclass(frozen=True)
class MergeReport:
    """What ``bhb sessions merge --json`` prints; ``kappa`` is NaN (null in JSON) where undefined."""

    reviewers: list[str]
    n_candidates: int  # vetted by at least one reviewer
    n_common: int  # vetted by every reviewer: the κ sample
    kappa: float
    kappa_method: str  # "cohen" or "fleiss"
    per_reviewer: dict[str, dict[str, Any]]
    conflicts: dict[str, str]  # candidate id -> conflict kind, in id order

    def to_json(self) -> dict[str, Any]:
        return {
            "n_candidates": self.n_candidates,
            "n_reviewers": len(self.reviewers),
            "n_conflicts": len(self.conflicts),
            "kappa": None if math.isnan(self.kappa) else round(self.kappa, 6),
            "kappa_method": self.kappa_method,
            "n_common": self.n_common,
            "per_reviewer": self.per_reviewer,
            "conflicts": list(self.conflicts),
            "conflict_kinds": self.conflicts,
        }


def _verdicts(reviews: Reviews) -> dict[str, dict[str, VerdictKind]]:
    return {
        r: {cid: st.verdict for cid, st in states.items() if st.verdict is not None} for r, states in reviews.items()
    }


def merge_report(reviews: Reviews) -> MergeReport:
    """Conflicts, per-reviewer counts and κ of two or more reviewers' states."""
    if len(reviews) < 2:
        raise ValueError("a merge needs at least two reviewers")
    verdicts = _verdicts(reviews)
    names = list(verdicts)
    every = sorted(set().union(*verdicts.values()), key=id_order)
    common = [cid for cid in every if all(cid in verdicts[r] for r in names)]
    conflicts = {}
    for cid in every:
        kind = conflict_kind([verdicts[r][cid] for r in names if cid in verdicts[r]])
        if kind:
            conflicts[cid] = kind
    table = [[verdicts[r][cid].value for r in names] for cid in common]
    if len(names) == 2:
        kappa, method = cohen_kappa([row[0] for row in table], [row[1] for row in table]), "cohen"
    else:
        kappa, method = fleiss_kappa(table), "fleiss"
    per_reviewer = {
        r: {
            "n_vetted": len(verdicts[r]),
            "n_conflicts": sum(cid in conflicts for cid in verdicts[r]),
            "counts": {k.value: n for k in VerdictKind if (n := sum(v is k for v in verdicts[r].values()))},
        }
        for r in names
    }
    return MergeReport(names, len(every), len(common), kappa, method, per_reviewer, conflicts)


class Consensus(NamedTuple):
    """A candidate's merged verdict: the resolution or the common verdict (None while in conflict)."""

    verdict: VerdictKind | None
    conflict: str | None  # the conflict kind among the reviewers, resolved or not
    resolved_by: str | None  # who recorded the merged session's own verdict, if anyone


def is_merged(session: Session) -> bool:
    return session.get_meta(MERGED_FROM) is not None


def consensus(session: Session) -> dict[str, Consensus]:
    """Per candidate any reviewer (or the resolver) vetted: its merged verdict, conflict and resolver."""
    verdicts = _verdicts(session.reviews())
    own = {cid: st for cid, st in session.states().items() if st.verdict is not None}
    out: dict[str, Consensus] = {}
    for cid in sorted(set(own).union(*verdicts.values()), key=id_order):
        given = [v[cid] for v in verdicts.values() if cid in v]
        kind = conflict_kind(given)
        if cid in own:
            out[cid] = Consensus(own[cid].verdict, kind, own[cid].reviewer)
        else:
            out[cid] = Consensus(None if kind else given[0], kind, None)
    return out


def unresolved_conflicts(session: Session) -> list[str]:
    """Ids of conflicts without a resolution yet, in id order: the "next conflict" queue."""
    return [cid for cid, c in consensus(session).items() if c.conflict and c.resolved_by is None]


def merge_sessions(paths: Sequence[str | os.PathLike], out: str | os.PathLike, reviewer: str) -> MergeReport:
    """Write one merged session at ``out`` (owned by ``reviewer``, who resolves) from reviewers' sessions.

    The sources must vet the same catalog (same content hash) and have different owners; a merged
    session is not a source (merge its reviewers' own sessions again instead). The file appears
    complete or not at all; an existing ``out`` is refused.
    """
    out = Path(out)
    if out.exists():
        raise BadInputError(out, "already exists; choose another --out")
    sources = []
    for path in paths:
        with Session.open(path, read_only=True) as s:
            if is_merged(s):
                raise BadInputError(path, "is already a merged session; merge the reviewers' own sessions")
            scores = {m: s.scores.load(m.name, m.version) for m in s.scores.models()}
            sources.append((Path(path), s.owner, s.catalog, s.model, s.states(), scores, s.revision))
    first = sources[0]
    for i, (path, owner, catalog, *_) in enumerate(sources[1:], start=1):
        if catalog.sha256 != first[2].sha256:
            raise BadInputError(path, f"vets another catalog ({catalog.path}) than {first[0]} ({first[2].path})")
        if owner in {s[1] for s in sources[:i]}:
            raise BadInputError(path, f"reviewer {owner!r} owns another of the sessions; one session per reviewer")
    report = merge_report({owner: states for _, owner, _, _, states, _, _ in sources})
    model = next((s[3] for s in sources if s[3] is not None), None)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with Session.create(tmp, first[2], reviewer, model) as merged:
            merged.store_reviews({owner: states for _, owner, _, _, states, _, _ in sources})
            for *_, scores, _ in sources:
                for m, by_id in scores.items():
                    merged.scores.store(m, list(by_id), list(by_id.values()))
            merged.set_meta(MERGED_FROM, [
                {"path": str(path.resolve()), "reviewer": owner, "revision": revision}
                for path, owner, _, _, _, _, revision in sources
            ])
        os.replace(tmp, out)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)
    log.info("merged %d sessions into %s: %d conflicts", len(sources), out, len(report.conflicts))
    return report
