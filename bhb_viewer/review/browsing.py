"""Moving about the list: the moves, a jump to an id, the filter, the sort and the decision cut.

:class:`~bhb_viewer.review.rows.CandidateRows` holds which rows are listed and in what order, and
:class:`~bhb_viewer.review.navigation.Navigator` the candidate on show; this part keeps the two in
step (a filter that hides the candidate on show moves it; a jump to a hidden one clears the filter)
and tells the views what they cannot see for themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from bhb_viewer.review.actions import VerdictActions
from bhb_viewer.review.events import ReviewEvents
from bhb_viewer.review.filters import Filter, SortOrder
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.rows import CandidateRows

__all__ = ["Browser"]


class Browser:
    """Moves, jumps, filter, sort and cut over one list.

    Parameters
    ----------
    rows, nav : CandidateRows, Navigator
    actions : VerdictActions
        The id -> row index of the open list, and the counts a new cut changes.
    events : ReviewEvents
    has_list : callable
        ``() -> bool``: whether a list is open (no move goes anywhere before).
    """

    def __init__(self, rows: CandidateRows, nav: Navigator, actions: VerdictActions, events: ReviewEvents,
                 has_list: Callable[[], bool]) -> None:
        self.rows, self.nav, self.actions, self.events = rows, nav, actions, events
        self._has_list = has_list

    def navigate(self, action: str) -> int:
        """Move to the candidate ``action`` names (a key of :attr:`Navigator.moves`).

        Returns
        -------
        int
            The source row on show, or -1 when there was nowhere to go.
        """
        return self.nav.move(action) if self._has_list() else -1

    def show_row(self, row: int) -> None:
        """Show source ``row``, clearing the filter first when it hides that candidate."""
        if self.rows.view_row(row) < 0:
            self.set_filter(Filter())
            self.events.filter_changed.emit(self.rows.filter)
        self.nav.set_current(row)

    def jump_to_id(self, cid: str) -> bool:
        """Show the candidate with id ``cid``; False when the list has no such candidate."""
        row = self.actions.row_of_id.get(str(cid))
        if row is None:
            return False
        self.show_row(row)
        return True

    def set_filter(self, filter_: Filter) -> None:
        """List only the candidates ``filter_`` keeps; the one on show stays if it is kept."""
        self.rows.set_filter(filter_)
        self.nav.reselect()

    def set_sort(self, order: SortOrder | None) -> None:
        """Sort the list (None: catalog order); the candidate on show stays."""
        self.rows.sort(order)

    def set_cut(self, cut: float) -> None:
        """Move the decision cut (the P(BHB) at which the model's call turns BHB): the model's call,
        the disagreements and the agreement counts follow."""
        self.rows.set_cut(cut)
        if self.nav.current >= 0:
            self.events.candidate_changed.emit(self.nav.current)
        self.events.counts_changed.emit(self.actions.counts())
