"""Which checkpoint scores a list: one priority, applied in one place, persisted in one place.

The first usable checkpoint in this order scores a list:

1. ``explicit``: named for this list (``--model``, a Models menu pick, a trained model made active);
2. ``session``: the model the list's session was last scored with, so reopening a session shows
   the scores its verdicts were made against;
3. ``active``: the user's active model (``models.json`` in the data folder, see
   :class:`~bhb_viewer.core.training.model_index.ModelIndex`);
4. ``shipped``: the checkpoint shipped with the app.

An explicit choice also becomes the user's active model, so ``models.json`` is the only record of
the choice between runs: nothing else (window settings, menus) keeps its own copy, and the Models
menu ticks the model this module says scores the list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bhb_viewer.core.training.model_index import ModelEntry, ModelIndex, describe

log = logging.getLogger(__name__)

__all__ = ["ModelChoice", "ModelChooser", "Origin", "checkpoint_problem", "pick_model"]


class Origin(StrEnum):
    """Where the model scoring a list came from, in priority order."""

    EXPLICIT = "explicit"
    SESSION = "session"
    ACTIVE = "active"
    SHIPPED = "shipped"
    NONE = "none"


REASONS = {
    Origin.EXPLICIT: "your choice",
    Origin.SESSION: "the model this session was scored with",
    Origin.ACTIVE: "your active model",
    Origin.SHIPPED: "the shipped model",
    Origin.NONE: "no model",
}


@dataclass(frozen=True)
class ModelChoice:
    """The checkpoint that scores a list and why.

    Attributes
    ----------
    path : Path or None
        The resolved checkpoint folder; None when no candidate was usable.
    origin : Origin
    passed_over : tuple of (Origin, Path, str)
        Candidates of higher priority that were not usable, with the reason (a moved folder, a
        baseline), so a caller can say why its choice was not taken.
    """

    path: Path | None
    origin: Origin
    passed_over: tuple[tuple[Origin, Path, str], ...] = ()

    @property
    def reason(self) -> str:
        """The origin in words, for the Models menu."""
        return REASONS[self.origin]


def checkpoint_problem(path: Path) -> str:
    """Why ``path`` cannot score a list in the review ('' when it can).

    Baselines (SVM, XGBoost) are listed by the index but the review's predictor loads networks only.
    """
    entry = describe(path, "recent")
    if entry.problem:
        return "folder not found" if not path.exists() else entry.problem
    if entry.kind != "network":
        return f"a {entry.model} baseline: the review scores with network checkpoints only"
    return ""


def pick_model(explicit: Path | None, session: Path | None, active: Path | None,
               shipped: Path | None) -> ModelChoice:
    """The first usable checkpoint of explicit > session > active > shipped.

    Parameters
    ----------
    explicit, session, active, shipped : Path or None
        The candidates (None: that level names none).

    Returns
    -------
    ModelChoice
        ``origin`` NONE and ``path`` None when no candidate is usable.
    """
    passed: list[tuple[Origin, Path, str]] = []
    for origin, path in ((Origin.EXPLICIT, explicit), (Origin.SESSION, session), (Origin.ACTIVE, active),
                         (Origin.SHIPPED, shipped)):
        if path is None:
            continue
        problem = checkpoint_problem(Path(path))
        if not problem:
            return ModelChoice(Path(path).resolve(), origin, tuple(passed))
        passed.append((origin, Path(path), problem))
    return ModelChoice(None, Origin.NONE, tuple(passed))


class ModelChooser:
    """The model choice of a review: applies :func:`pick_model` and keeps the active model in the index.

    Parameters
    ----------
    index : ModelIndex
        The user's known checkpoints and active model (``models.json``).
    shipped : Path or None
        The fallback checkpoint (None: a list no level names opens unscored).

    Attributes
    ----------
    current : ModelChoice
        The choice for the open list; before one is open, the one a new list would get.
    """

    def __init__(self, index: ModelIndex, shipped: Path | None = None) -> None:
        self.index = index
        self.shipped = shipped
        self.current = self.for_list(None, None)

    def _active(self) -> Path | None:
        entry = self.index.active()
        return Path(entry.path) if entry is not None else None

    def for_list(self, explicit: Path | None, session: Path | None) -> ModelChoice:
        """Choose the model of a list being opened; an explicit one becomes the active model.

        Parameters
        ----------
        explicit : Path or None
            The checkpoint the caller named for this list.
        session : Path or None
            The checkpoint the list's session was last scored with.

        Returns
        -------
        ModelChoice
            Also kept as :attr:`current`.
        """
        choice = pick_model(explicit, session, self._active(), self.shipped)
        for origin, path, problem in choice.passed_over:
            log.info("%s model %s not used: %s", origin, path, problem)
        if choice.origin is Origin.EXPLICIT and choice.path is not None:
            self.index.set_active(choice.path)
        self.current = choice
        return choice

    def choose(self, path: Path) -> Path:
        """The person picked ``path`` for the open list: it scores it and becomes the active model.

        Returns
        -------
        Path
            The resolved checkpoint folder.

        Raises
        ------
        ValueError
            ``path`` is not a checkpoint the review can score with (the choice is unchanged).
        """
        problem = checkpoint_problem(Path(path))
        if problem:
            raise ValueError(f"{path}: {problem}")
        self.index.set_active(path)
        resolved = Path(path).resolve()
        self.current = ModelChoice(resolved, Origin.EXPLICIT)
        return resolved

    def entries(self) -> list[ModelEntry]:
        """The index's checkpoints, with the one in use first when the index does not list it
        (a session's model from another machine's folder)."""
        entries = self.index.entries()
        path = self.current.path
        if path is not None and all(e.path != str(path) for e in entries):
            entries.insert(0, describe(path, self.current.origin.value))
        return entries
