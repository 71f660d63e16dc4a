"""How verdicts are made right now: scores shown or hidden, the model's overlays on screen, auto-advance.

Why one home: the blind audit hides the scores, and the table, the verdict panel, the filter bar
and the menus each show or withhold them. Before, a helper wrote all of those widgets itself; now
this state is the review's, it says when it changed, and each widget's own view renders it.
"""

from __future__ import annotations

from bhb_viewer.review.events import Event

__all__ = ["ReviewMode"]


class ReviewMode:
    """The review's mode: what the person is shown and how a verdict moves on.

    Attributes
    ----------
    changed : Event
        ``()``: the scores were hidden or shown, or the overlays on screen changed; views re-read.
    auto_advance : bool
        Go on after a verdict (to :attr:`advance_move`).
    """

    def __init__(self) -> None:
        self.changed = Event("review mode changed")
        self.auto_advance = True
        self._scores_hidden = False
        self._overlays: tuple[str, ...] = ()

    @property
    def scores_hidden(self) -> bool:
        """The scores, the heads' scores, the "≠ model" mark and what follows from them (Enter, the
        uncertainty moves, the score filter, the band bars) are withheld: a blind audit."""
        return self._scores_hidden

    @property
    def model_overlays(self) -> tuple[str, ...]:
        """The overlays of the model's view on screen (segment shading, saliency, attention), as the
        window reports them: while any shows, a verdict is not blind even with the scores hidden."""
        return self._overlays

    @property
    def blind(self) -> bool:
        """Whether a verdict made now is recorded as blind: scores hidden and no overlay on screen."""
        return self._scores_hidden and not self._overlays

    @property
    def advance_move(self) -> str:
        """The navigator move auto-advance takes: the audit sample's next while the scores are hidden
        (only the blind audit hides them), else the next row."""
        return "audit" if self._scores_hidden else "next"

    def hide_scores(self, hidden: bool) -> None:
        """Withhold the scores (True) or show them; views are told when it changes."""
        if bool(hidden) != self._scores_hidden:
            self._scores_hidden = bool(hidden)
            self.changed.emit()

    def show_overlays(self, names: tuple[str, ...]) -> None:
        """The window reports which overlays of the model's view are on screen now."""
        if tuple(names) != self._overlays:
            self._overlays = tuple(names)
            self.changed.emit()
