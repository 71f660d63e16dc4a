"""Model scores kept in the session file, so a reopened list shows them without scoring again.

Writes: the scoring worker (``review.tasks.score_task``, on the task runner's pool thread, while the
GUI thread writes verdicts through the same connection), one transaction per batch as the model
returns it; on the main thread, ``bhb sessions audit --scores`` (a ``bhb score`` table) and
``core.sessions.merge`` (its sources' scores). Reads: the same worker before it scores (what is cached for
this model version is not scored again), the export and the merge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bhb_viewer.core.sessions.session_db import SessionDB
from bhb_viewer.core.sessions.verdict_types import CandidateId, ModelRef

__all__ = ["ScoreCache"]


class ScoreCache:
    """The ``scores`` and ``head_scores`` tables: P(BHB) per candidate, keyed by the model name and version
    that produced it, and for a fusion model its spectrum and image heads.

    Parameters
    ----------
    db : SessionDB
        The session's connection (its lock keeps the worker's writes apart from the GUI thread's).
    """

    def __init__(self, db: SessionDB):
        self._db = db

    def store(self, model: ModelRef, cids: Iterable[CandidateId], p_bhb: Iterable[float],
              p_spectrum: Iterable[float] | None = None, p_image: Iterable[float] | None = None,
              score_from: Iterable[str] | None = None) -> None:
        """Cache scores under the model name and version that produced them (replacing older ones).

        With ``score_from`` (which score p_bhb is), each modality head's P(BHB) is cached too, in
        the same transaction (None or NaN: no data for that head), so a reopened list shows the
        three side by side without scoring again.
        """
        ids = [str(c) for c in cids]
        rows = [(model.name, model.version, c, float(p)) for c, p in zip(ids, p_bhb, strict=True)]
        heads = []
        if score_from is not None:
            nan = [float("nan")] * len(ids)
            heads = [(model.name, model.version, c, _real_or_none(s), _real_or_none(i), str(f))
                     for c, s, i, f in zip(ids, nan if p_spectrum is None else p_spectrum,
                                           nan if p_image is None else p_image, score_from, strict=True)]
        with self._db.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?)", rows)
            conn.executemany("INSERT OR REPLACE INTO head_scores VALUES (?, ?, ?, ?, ?, ?)", heads)

    def load(self, model_name: str, model_version: str) -> dict[str, float]:
        """Cached P(BHB) by candidate id for exactly this model version (empty when none)."""
        return dict(self._db.rows("SELECT cid, p_bhb FROM scores WHERE model_name = ? AND model_version = ?",
                                  (model_name, model_version)))

    def heads(self, model_name: str, model_version: str) -> dict[str, tuple[float, float, str]]:
        """Cached (p_spectrum, p_image, score_from) by candidate id (NaN for a head without data;
        empty where this model version's heads were never cached)."""
        rows = self._db.rows("SELECT cid, p_spectrum, p_image, score_from FROM head_scores "
                             "WHERE model_name = ? AND model_version = ?", (model_name, model_version))
        nan = float("nan")
        return {cid: (nan if s is None else s, nan if i is None else i, f) for cid, s, i, f in rows}

    def models(self) -> list[ModelRef]:
        """Model name/version pairs with cached scores."""
        rows = self._db.rows("SELECT DISTINCT model_name, model_version FROM scores ORDER BY 1, 2")
        return [ModelRef(name, version) for name, version in rows]


def _real_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
