"""Data a candidate gains during a review: cutouts dropped on it, a spectrum and cutouts fetched from SDSS.

Either way the data becomes the candidate's own in the open list, what was computed from the old
data (its explanation, its Balmer fit) is forgotten, and the views are told to draw it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.review.candidate_source import CandidateSource
from bhb_viewer.review.events import ReviewEvents
from bhb_viewer.review.navigation import Navigator
from bhb_viewer.review.quality import SpectrumQuality
from bhb_viewer.review.scoring import Scoring

if TYPE_CHECKING:
    from bhb_viewer.core.readers.spectra import GridSpectrum

__all__ = ["Attacher"]


class Attacher:
    """Give candidates of the open list new spectra and cutouts.

    Parameters
    ----------
    source : callable
        ``() -> CandidateSource or None``: the list open now.
    nav : Navigator
        The candidate on show.
    quality, scoring : SpectrumQuality, Scoring
        The valid fraction that comes with a spectrum; the details (and scores) the new data changes.
    events : ReviewEvents
    """

    def __init__(self, source: Callable[[], CandidateSource | None], nav: Navigator, quality: SpectrumQuality,
                 scoring: Scoring, events: ReviewEvents) -> None:
        self._source, self.nav, self.quality, self.scoring, self.events = source, nav, quality, scoring, events

    def cutout(self, make_cube: Callable[[], np.ndarray], what: str) -> bool:
        """Give the candidate on show the cube ``make_cube()`` builds (its explanation is redone).

        Parameters
        ----------
        make_cube : callable
            Returns a 5×S×S u,g,r,i,z cube; may raise BadInputError.
        what : str
            Where the cube comes from, for messages.

        Returns
        -------
        bool
            Whether the cube was attached.
        """
        source, row = self._source(), self.nav.current
        if source is None or row < 0:
            self.events.error.emit("No candidate to attach cutouts to",
                                   f"open a candidate list first, then drop {what} on it")
            return False
        try:
            cube = make_cube()
        except BadInputError as exc:
            self.events.error.emit("Cannot use the cutouts", str(exc))
            return False
        source.extra_cubes[row] = cube
        self.scoring.details.forget(row)
        self.events.data_changed.emit(row)
        self.events.notice.emit(f"cutouts from {what} shown for {source.ids[row]}")
        return True

    def fetched(self, row: int, spectrum: GridSpectrum | None, cube: np.ndarray | None) -> None:
        """A fetched spectrum and/or cube becomes candidate ``row``'s own; its valid fraction comes with it."""
        source = self._source()
        if source is None:
            return
        if spectrum is not None:
            source.extra_spectra[row] = (spectrum.flux, spectrum.ivar)
            self.quality.set_meta(row, spectrum.meta)
        if cube is not None:
            source.extra_cubes[row] = cube
        self.scoring.details.forget(row, balmer=spectrum is not None)
        self.events.data_changed.emit(row)
        if row == self.nav.current:
            self.events.candidate_changed.emit(row)
        self.scoring.score_rows([row])  # with a model chosen, scored once both parts are in
