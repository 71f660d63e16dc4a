"""The review without a window: a candidate list, its verdict session, navigation, filters, the
decision cut, the model in use (one priority decides which) and its scores, verdict actions with
undo, agreement, and the mode a blind audit sets (scores hidden).

No Qt here: :class:`Review` is driven by plain calls and reports through plain callbacks
(:class:`Event`), so a script, a test or the window (``bhb_viewer.gui``) can drive a review.
"""

from bhb_viewer.review.actions import Counts, VerdictActions
from bhb_viewer.review.browsing import Browser
from bhb_viewer.review.candidate_source import CandidateSource, open_source, session_path_for
from bhb_viewer.review.details import Classical, DetailCache
from bhb_viewer.review.events import Event, ReviewEvents
from bhb_viewer.review.filters import STATE_FILTERS, Filter, SortOrder
from bhb_viewer.review.mode import ReviewMode
from bhb_viewer.review.navigation import MOVES, Navigator
from bhb_viewer.review.recent import RecentFiles
from bhb_viewer.review.review import Candidate, Review
from bhb_viewer.review.rows import CandidateRows
from bhb_viewer.review.runner import InlineRunner, Runner
from bhb_viewer.review.scores import ActiveModel
from bhb_viewer.review.scoring import Scoring
from bhb_viewer.review.vetting import Vetting

__all__ = [
    "MOVES",
    "STATE_FILTERS",
    "ActiveModel",
    "Browser",
    "Candidate",
    "CandidateRows",
    "CandidateSource",
    "Classical",
    "Counts",
    "DetailCache",
    "Event",
    "Filter",
    "InlineRunner",
    "Navigator",
    "RecentFiles",
    "Review",
    "ReviewEvents",
    "ReviewMode",
    "Runner",
    "Scoring",
    "SortOrder",
    "VerdictActions",
    "Vetting",
    "open_source",
    "session_path_for",
]
