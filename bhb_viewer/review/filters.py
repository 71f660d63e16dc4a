"""Which candidates the list shows, and in what order: numpy masks and argsorts over the columns.

Filtering and sorting are whole-array operations (100,000 rows cost milliseconds), so they live
here, apart from the Qt table that only draws the rows these produce.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["STATE_FILTERS", "Filter", "SortOrder", "sort_order"]

# Verdict-state filters; "disagrees" needs the disagreement column.
STATE_FILTERS = ("all", "unvetted", "vetted", "disagrees")


@dataclass(frozen=True)
class Filter:
    """Keep rows with P(BHB) in ``score_range`` (inclusive), in verdict ``state``, matching ``text``.

    Parameters
    ----------
    score_range : (float, float) or None
        Inclusive P(BHB) bounds; None keeps unscored rows too.
    state : str
        One of :data:`STATE_FILTERS`.
    text : str
        Case-insensitive substring of the id or the note; '' keeps all.
    hide_flagged : bool
        Leave out rows whose score is flagged out of distribution (core.science.trust: ``ood:``/``sky:``).
    not_catalogued : bool
        Keep only rows in no known-star catalogue (core.readers.known_stars: ``known_as`` empty).
    """

    score_range: tuple[float, float] | None = None
    state: str = "all"
    text: str = ""
    hide_flagged: bool = False
    not_catalogued: bool = False

    def __post_init__(self) -> None:
        if self.state not in STATE_FILTERS:
            raise ValueError(f"unknown verdict state filter {self.state!r}; expected one of {STATE_FILTERS}")
        object.__setattr__(self, "text", self.text.strip().lower())

    @property
    def is_empty(self) -> bool:
        """True when the filter keeps every row."""
        return (self.score_range is None and self.state == "all" and not self.text and not self.hide_flagged
                and not self.not_catalogued)

    def keep(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """The boolean mask of the rows this filter keeps.

        Parameters
        ----------
        cols : dict of str to ndarray
            The list's columns: ``p``, ``verdict`` ('' = unvetted), ``disagrees``, ``id``, ``note``.

        Returns
        -------
        ndarray of bool
            One entry per source row.
        """
        keep = np.ones(len(cols["id"]), dtype=bool)
        if self.score_range is not None:
            p = cols["p"]
            with np.errstate(invalid="ignore"):
                keep &= (p >= self.score_range[0]) & (p <= self.score_range[1])
        if self.state != "all":
            vetted = cols["verdict"] != ""
            if self.state == "unvetted":
                keep &= ~vetted
            elif self.state == "vetted":
                keep &= vetted
            else:
                keep &= cols["disagrees"]
        if self.text:
            ids = np.char.lower(cols["id"].astype(str))
            notes = np.char.lower(cols["note"].astype(str))
            keep &= (np.char.find(ids, self.text) >= 0) | (np.char.find(notes, self.text) >= 0)
        if self.hide_flagged and "ood" in cols:
            keep &= ~cols["ood"]
        if self.not_catalogued and "known_as" in cols:
            keep &= cols["known_as"] == ""
        return keep


@dataclass(frozen=True)
class SortOrder:
    """Sort the list by column ``column`` (a name of :class:`~bhb_viewer.review.rows.CandidateRows`)."""

    column: str
    descending: bool = False


def sort_order(key: np.ndarray, descending: bool) -> np.ndarray:
    """The stable argsort of ``key``; NaN (not scored, no magnitude) stays last in both directions.

    Parameters
    ----------
    key : ndarray
        The column sorted on (float or string).
    descending : bool
        Largest first.

    Returns
    -------
    ndarray of int64
        Source rows in display order.
    """
    if key.dtype.kind == "f":
        return np.argsort(-key if descending else key, kind="stable").astype(np.int64)
    order = np.argsort(key, kind="stable").astype(np.int64)
    return order[::-1].copy() if descending else order
