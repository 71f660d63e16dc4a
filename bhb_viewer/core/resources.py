"""Files shipped with the app (demo set, spectral engine, filter curves): found, never written."""

from __future__ import annotations

from pathlib import Path

from bhb_viewer.core.errors import BadInputError

ROOT = Path(__file__).resolve().parents[2] / "resources"


def resource_path(relative: str | Path) -> Path:
    """The shipped file at ``resources/relative``; a clear error when the checkout lacks it."""
    path = ROOT / relative
    if not path.exists():
        raise BadInputError(path, "missing from this installation's resources/ folder (reinstall or check out again)")
    return path
