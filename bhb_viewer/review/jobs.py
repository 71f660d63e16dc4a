"""The kinds of background job the review runs: one name each, and the groups that are stopped together.

A runner keeps at most one job of a kind (a new one replaces the old), so the kind is also the
handle by which a job is cancelled; listing them once here keeps Cancel from missing one.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FETCH_JOBS", "SCORING_JOBS", "JobKind"]


class JobKind(StrEnum):
    LOAD = "load"  # reading the list and its session
    SELECTION = "selection"  # the blind audit's selection function (Team → Audit results)
    KNOWN = "known"  # a new catalogue of known stars read and the open list matched against it
    QUALITY = "quality"  # per-candidate data-quality flags
    SCORE = "score"  # the model over the whole list
    SCORE_MORE = "score-more"  # candidates whose data arrived after the list was scored
    CLASSICAL = "classical"  # the Balmer-line fits and Xue cuts
    DETAIL = "detail"  # the explanation maps of the candidate on show
    FETCH = "sdss"  # one candidate's SDSS spectrum and cutouts
    FETCH_BATCH = "sdss-batch"  # the same for the whole list or a selection


SCORING_JOBS = (JobKind.SCORE, JobKind.SCORE_MORE, JobKind.CLASSICAL, JobKind.DETAIL)  # stale with a new list or model
FETCH_JOBS = (JobKind.FETCH, JobKind.FETCH_BATCH)
