"""The recently opened sessions, newest first, kept as JSON in the user's data folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bhb_viewer.core.files import write_atomic

log = logging.getLogger(__name__)

__all__ = ["RECENT_MAX", "RecentFiles"]

RECENT_MAX = 10


class RecentFiles:
    """``data_dir/recent.json``: up to :data:`RECENT_MAX` session paths, newest first.

    Parameters
    ----------
    data_dir : Path
        The user's data folder (made when missing).
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "recent.json"

    def paths(self) -> list[str]:
        """The remembered paths, newest first (an unreadable list reads as empty)."""
        try:
            return [p for p in json.loads(self.path.read_text()) if isinstance(p, str)]
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("ignoring the recent-files list %s: %s", self.path, exc)
            return []

    def existing(self) -> list[Path]:
        """The remembered paths that still exist, newest first."""
        return [Path(p) for p in self.paths() if Path(p).exists()]

    def add(self, path: Path) -> None:
        """Put ``path`` first; a failure to write the list is logged, never raised (it is a convenience).

        Parameters
        ----------
        path : Path
            A session file just opened.
        """
        resolved = str(Path(path).resolve())
        recent = [resolved] + [p for p in self.paths() if p != resolved]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(recent[:RECENT_MAX])
            write_atomic(self.path, lambda tmp: tmp.write_text(text))
        except OSError as exc:
            log.warning("could not update the recent-files list %s: %s", self.path, exc)
