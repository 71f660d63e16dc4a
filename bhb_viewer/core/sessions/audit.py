"""Blind purity audit: how pure is the model-accepted set, measured by people who cannot see the scores.

A random sample of the candidates with P(BHB) ≥ the cut is drawn, its size chosen so that the
Wilson interval of the purity comes out about as narrow as asked; the plan is stored in the
session (meta key ``audit``) with the log position at which it started. Only verdicts recorded
after that position with the scores hidden count (each verdict records whether they were, see
``Session.set_verdict``): one made earlier, or after un-ticking Hide scores, is not blind. Purity = BHB / (BHB + every
non-BHB class, "other" included); unsure and bad data are left out of both and reported. The interval is Wilson's score
interval for a binomial proportion; drawing without replacement from a small accepted set makes
it conservative.

Hiding the scores is the view's job (the review state asks :func:`is_blind`); this module draws,
stores and evaluates.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

import numpy as np

from bhb_viewer.core.sessions.verdicts import ModelRef, Session, VerdictKind

AUDIT_META = "audit"
AUDIT_PROVENANCE_KEYS: dict[str, str] = {
    "AUDPUR": "blind-audit purity of the model-accepted set (BHB / judged)",
    "AUDLO": "lower end of the audit purity's Wilson interval",
    "AUDHI": "upper end of the audit purity's Wilson interval",
    "AUDCL": "confidence level of AUDLO-AUDHI",
    "AUDN": "audited candidates judged BHB or a non-BHB class",
    "AUDNBHB": "of those, judged BHB",
    "AUDNEXCL": "audited candidates judged unsure or bad data (left out)",
    "AUDPEND": "audit sample members without a blind verdict yet",
    "AUDSAMP": "audit sample size",
    "AUDPOP": "model-accepted candidates the sample was drawn from",
    "AUDCUT": "P(BHB) cut of the audited selection",
    "AUDSEED": "random seed of the audit draw",
}

log = logging.getLogger(__name__)


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n; (0, 1) for n = 0.

    (p̂ + z²/2n ± z·√(p̂(1-p̂)/n + z²/4n²)) / (1 + z²/n), with z the normal quantile of the confidence.
    """
    if n == 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"{k} successes out of {n}")
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_half_width(p: float, n: int, confidence: float = 0.95) -> float:
    """Half the width of the Wilson interval at an observed proportion p after n trials."""
    z = _z(confidence)
    return z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)


def audit_sample_size(half_width: float, population: int, confidence: float = 0.95, expected: float = 0.5) -> int:
    """The smallest sample whose Wilson interval at purity ``expected`` is at most ±``half_width``
    (capped at the population). ``expected`` = 0.5 is the cautious choice; the threshold chooser's
    validation purity gives a smaller sample that holds if the model is as good as validated."""
    if not 0 < half_width < 0.5:
        raise ValueError(f"half-width must lie in (0, 0.5), not {half_width}")
    if population <= 0:
        return 0
    lo, hi = 1, population
    if wilson_half_width(expected, hi, confidence) > half_width:
        return population
    while lo < hi:  # the half-width falls as n grows
        mid = (lo + hi) // 2
        if wilson_half_width(expected, mid, confidence) <= half_width:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class AuditPlan:
    """A drawn audit: the sample in review order and everything needed to redraw or judge it."""

    ids: list[str]
    cut: float
    population: int
    half_width: float
    confidence: float
    expected: float
    seed: int
    start_seq: int  # log position when the audit started: only later verdicts are blind
    model: dict[str, Any] | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditPlan:
        return cls(**data)


def draw_audit(scores: Mapping[str, float], cut: float, half_width: float = 0.05, confidence: float = 0.95,
               expected: float = 0.5, seed: int | None = None, start_seq: int = 0,
               model: ModelRef | None = None) -> AuditPlan:
    """Draw the audit sample from candidates with finite P(BHB) ≥ cut (a fresh seed is recorded when None)."""
    accepted = sorted(cid for cid, p in scores.items() if np.isfinite(p) and p >= cut)
    n = audit_sample_size(half_width, len(accepted), confidence, expected)
    seed = secrets.randbits(63) if seed is None else int(seed)
    order = np.random.default_rng(seed).permutation(len(accepted))[:n]
    return AuditPlan([accepted[i] for i in order], float(cut), len(accepted), half_width, confidence, expected,
                     seed, int(start_seq), None if model is None else asdict(model))


def start_audit(session: Session, scores: Mapping[str, float], cut: float, **options: Any) -> AuditPlan:
    """Draw an audit (options as :func:`draw_audit`) and store it in the session, starting now."""
    plan = draw_audit(scores, cut, start_seq=session.revision, model=session.model, **options)
    session.set_meta(AUDIT_META, asdict(plan))
    log.info("%s: audit of %d of %d accepted candidates at cut %.3f", session.path, len(plan.ids), plan.population, cut)
    return plan


def load_audit(session: Session) -> AuditPlan | None:
    """The session's audit plan, None when no audit was started."""
    data = session.get_meta(AUDIT_META)
    return None if data is None else AuditPlan.from_json(data)


def is_blind(session: Session, cid: str) -> bool:
    """Whether a candidate's score must stay hidden: it is in the session's audit sample."""
    plan = load_audit(session)
    return plan is not None and str(cid) in set(plan.ids)


@dataclass(frozen=True)
class AuditResult:
    n_sample: int
    n_judged: int  # BHB or a non-BHB class
    n_bhb: int
    n_excluded: int  # unsure or bad data
    n_pending: int  # no blind verdict yet
    purity: float  # NaN before anything is judged
    low: float
    high: float
    confidence: float

    def provenance(self, plan: AuditPlan) -> dict[str, Any]:
        """The AUD* export keys (purity and its interval left out while nothing is judged)."""
        prov: dict[str, Any] = {
            "AUDCL": self.confidence, "AUDN": self.n_judged, "AUDNBHB": self.n_bhb, "AUDNEXCL": self.n_excluded,
            "AUDPEND": self.n_pending, "AUDSAMP": self.n_sample, "AUDPOP": plan.population, "AUDCUT": plan.cut,
            "AUDSEED": str(plan.seed),
        }
        if self.n_judged:
            prov.update(AUDPUR=self.purity, AUDLO=self.low, AUDHI=self.high)
        return prov


def audit_result(session: Session, plan: AuditPlan) -> AuditResult:
    """Purity of the sample from the verdicts given blind (after the audit started, scores hidden), with its
    Wilson interval."""
    blind = session.verdicts_since(plan.start_seq, blind=True)
    verdicts = [blind[cid].verdict for cid in plan.ids if cid in blind]
    excluded = sum(v in (VerdictKind.UNSURE, VerdictKind.BAD_DATA) for v in verdicts)
    n_bhb = sum(v is VerdictKind.BHB for v in verdicts)
    judged = len(verdicts) - excluded
    low, high = wilson_interval(n_bhb, judged, plan.confidence)
    purity = n_bhb / judged if judged else math.nan
    return AuditResult(len(plan.ids), judged, n_bhb, excluded, len(plan.ids) - len(verdicts), purity, low, high,
                       plan.confidence)


def audit_order(plan: AuditPlan, ids: Sequence[str]) -> list[int]:
    """Row numbers (into ``ids``) of the audit sample, in its random review order."""
    row = {str(cid): i for i, cid in enumerate(ids)}
    return [row[cid] for cid in plan.ids if cid in row]
