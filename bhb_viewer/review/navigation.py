"""Moving through the list: the candidate on show and the steps a reviewer's keys take.

All moves follow the *visible* order (the filter and sort the person chose). The current
candidate is a source row; :attr:`Navigator.changed` tells a view to show it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bhb_viewer.review.events import Event
from bhb_viewer.review.rows import CandidateRows

__all__ = ["MOVES", "Move", "Navigator", "most_uncertain", "next_unvetted"]

# A move: (the list, the view row on show or -1) -> the view row to show, or -1 for nowhere.
Move = Callable[[CandidateRows, int], int]


def next_unvetted(rows: CandidateRows, after_view_row: int, backward: bool = False) -> int:
    """The first unvetted view row after ``after_view_row`` (before it when ``backward``), wrapping.

    Parameters
    ----------
    rows : CandidateRows
        The list.
    after_view_row : int
        Where to start looking (excluded); -1 starts at the top.
    backward : bool
        Look upwards instead.

    Returns
    -------
    int
        A view row, or -1 when every visible candidate is vetted.
    """
    unvetted = np.flatnonzero(rows.column("verdict")[rows.visible_rows()] == "")
    if not len(unvetted):
        return -1
    if backward:
        earlier = unvetted[unvetted < after_view_row] if after_view_row >= 0 else unvetted
        return int(earlier[-1] if len(earlier) else unvetted[-1])
    later = unvetted[unvetted > after_view_row]
    return int(later[0] if len(later) else unvetted[0])


def most_uncertain(rows: CandidateRows, exclude_source: int = -1, least: bool = False) -> int:
    """The visible, unvetted, scored view row whose P(BHB) is closest to the decision cut.

    The cut, not 0.5: it is where the model's call flips, so that is where a person's look pays.

    Parameters
    ----------
    rows : CandidateRows
        The list.
    exclude_source : int
        A source row to skip (the one on show), or -1.
    least : bool
        The farthest from the cut instead (the model's surest unvetted call).

    Returns
    -------
    int
        A view row (the first of ties), or -1 when none is unvetted and scored.
    """
    visible = rows.visible_rows()
    p = rows.column("p")[visible]
    ok = (rows.column("verdict")[visible] == "") & np.isfinite(p) & (visible != exclude_source)
    if not ok.any():
        return -1
    distance = np.abs(p - rows.cut)
    if least:
        return int(np.argmax(np.where(ok, distance, -np.inf)))
    return int(np.argmin(np.where(ok, distance, np.inf)))


def _next(rows: CandidateRows, view: int) -> int:
    return min(view + 1, len(rows.visible_rows()) - 1)


def _previous(rows: CandidateRows, view: int) -> int:
    return max(view - 1, 0) if len(rows.visible_rows()) else -1


# The moves every navigator knows; the first four have keys in the window.
MOVES: dict[str, Move] = {
    "next": _next,
    "previous": _previous,
    "unvetted": next_unvetted,
    "uncertain": lambda rows, view: most_uncertain(rows),
    "previous_unvetted": lambda rows, view: next_unvetted(rows, view, backward=True),
    "least_uncertain": lambda rows, view: most_uncertain(rows, least=True),
}


class Navigator:
    """The candidate on show and the moves from it.

    Parameters
    ----------
    rows : CandidateRows
        The list it moves through.

    Attributes
    ----------
    changed : Event
        ``(source_row)``: show this candidate (-1: none).
    moves : dict of str to Move
        The moves :meth:`move` knows (a copy of :data:`MOVES`); a feature adds its own here, e.g.
        the next candidate two reviewers disagree on.
    """

    def __init__(self, rows: CandidateRows) -> None:
        self.rows = rows
        self.current = -1
        self.changed = Event("current candidate")
        self.moves: dict[str, Move] = dict(MOVES)

    def set_current(self, row: int, force: bool = False) -> None:
        """Make source ``row`` the candidate on show (-1: none).

        Parameters
        ----------
        row : int
            Source row.
        force : bool
            Tell the views even when it did not change (they lost their selection in a reset).
        """
        if row != self.current or force:
            self.current = row
            self.changed.emit(row)

    def move(self, action: str) -> int:
        """Go to the candidate ``action`` names, a key of :attr:`moves`.

        Parameters
        ----------
        action : str
            'next', 'previous', 'unvetted', 'uncertain', 'previous_unvetted', 'least_uncertain', or
            a move added to :attr:`moves`.

        Returns
        -------
        int
            The source row now on show, or -1 when there is none to go to (the current stays).
        """
        if action not in self.moves:
            raise ValueError(f"unknown navigation {action!r}; expected one of {', '.join(self.moves)}")
        view = self.rows.view_row(self.current) if self.current >= 0 else -1
        target = self.moves[action](self.rows, view)
        if target < 0:
            return -1
        self.set_current(self.rows.source_row(target))
        return self.current

    def reselect(self) -> None:
        """After the visible rows changed: keep the candidate on show if it is still listed, else
        show the first listed one."""
        keep = self.current >= 0 and self.rows.view_row(self.current) >= 0
        visible = self.rows.visible_rows()
        self.set_current(self.current if keep else (int(visible[0]) if len(visible) else -1), force=True)
