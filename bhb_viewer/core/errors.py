"""One exception type for bad input, so every reader reports the file and the problem alike."""

from __future__ import annotations

from os import PathLike


class BadInputError(ValueError):
    """Input that cannot be used: carries the offending file and a human-readable problem."""

    def __init__(self, path: str | PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
