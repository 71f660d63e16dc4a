"""Files shipped with the app (demo set, spectral engine, filter curves, catalogues): found, never written.

They live in ``bhb_viewer/resources``, package data of ``bhb_viewer`` (``pyproject.toml``), so an installed
wheel or sdist carries them beside the code and a checkout and an installation find them the same way.
"""

from __future__ import annotations

from pathlib import Path

from bhb_viewer.core.errors import BadInputError

ROOT = Path(__file__).resolve().parents[1] / "resources"


def resource_path(relative: str | Path) -> Path:
    """The shipped file at ``bhb_viewer/resources/relative``; a clear error when the installation lacks it."""
    path = ROOT / relative
    if not path.exists():
        raise BadInputError(
            path, "missing from this installation's bhb_viewer/resources folder (reinstall or check out again)"
        )
    return path
