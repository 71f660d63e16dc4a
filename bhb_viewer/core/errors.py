"""One exception type for bad input, so every reader reports the file and the problem alike."""

from __future__ import annotations

import json
from os import PathLike
from typing import Any


class BadInputError(ValueError):
    """Input that cannot be used: carries the offending file and a human-readable problem."""

    def __init__(self, path: str | PathLike | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


def read_json(path: str | PathLike, error: type[BadInputError] = BadInputError) -> Any:
    """A JSON file's content, or ``error`` naming the file (a truncated or hand-edited file says
    which one, where ``json.JSONDecodeError`` would not)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(path, f"unreadable JSON ({exc})") from exc
