"""Chance-corrected agreement between reviewers: Cohen's κ for two, Fleiss' κ for more.

Both take the categories as recorded (every verdict kind, "unsure" and "bad data" included) and
only the candidates every reviewer rated; which candidates those are is the caller's business
(``core.sessions.merge``). κ is undefined (NaN) when chance agreement is 1, i.e. everyone used one category.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's κ = (p_o - p_e) / (1 - p_e) of two raters' labels for the same subjects, in the same order.

    p_o is the fraction of subjects with equal labels; p_e = Σ_k p_a(k)·p_b(k) from each rater's
    own marginal frequencies.
    """
    if len(a) != len(b):
        raise ValueError(f"{len(a)} and {len(b)} ratings: both raters must rate the same subjects")
    n = len(a)
    if n == 0:
        return math.nan
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    count_a, count_b = Counter(a), Counter(b)
    p_e = sum(count_a[k] * count_b[k] for k in count_a) / (n * n)
    return _kappa(p_o, p_e)


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float:
    """Fleiss' κ of subjects x raters labels (every subject rated by the same number m ≥ 2 of raters).

    P_i = (Σ_j n_ij² - m) / (m(m - 1)) per subject, P̄ their mean; p_j = Σ_i n_ij / (N m) per category,
    P̄_e = Σ_j p_j²; κ = (P̄ - P̄_e) / (1 - P̄_e).
    """
    if not ratings:
        return math.nan
    m = len(ratings[0])
    if m < 2 or any(len(row) != m for row in ratings):
        raise ValueError("Fleiss' kappa needs the same number (at least 2) of ratings for every subject")
    totals: Counter = Counter()
    p_bar = 0.0
    for row in ratings:
        counts = Counter(row)
        totals.update(counts)
        p_bar += (sum(c * c for c in counts.values()) - m) / (m * (m - 1))
    n_subjects = len(ratings)
    p_bar /= n_subjects
    p_e = sum((c / (n_subjects * m)) ** 2 for c in totals.values())
    return _kappa(p_bar, p_e)


def _kappa(p_o: float, p_e: float) -> float:
    return math.nan if math.isclose(p_e, 1.0) else (p_o - p_e) / (1.0 - p_e)
