"""Opening files for review: which session goes with a list, whether its catalog changed, and what
dropped files are (a list to open, or cutouts for the candidate on show)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import require_regular_file
from bhb_viewer.core.sessions.verdicts import CatalogRef, Session
from bhb_viewer.review.candidate_source import CandidateSource, file_kind, session_path_for

log = logging.getLogger(__name__)

# What a hand-edited or damaged session file raises from the session layer besides BadInputError:
# SQLite errors, JSON of the wrong shape (TypeError, KeyError, ValueError). Each becomes a
# BadInputError naming the file, so the window says so instead of staying on its start page.
_DAMAGED = (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError)


@contextmanager
def _usable(path: Path) -> Iterator[None]:
    """Turn what a damaged session raises into a BadInputError naming ``path`` (BadInputError passes)."""
    try:
        yield
    except BadInputError:
        raise
    except _DAMAGED as exc:
        log.info("session %s unusable: %s: %s", path, type(exc).__name__, exc)
        problem = f"not a usable session file, damaged or edited by hand ({type(exc).__name__}: {exc})"
        raise BadInputError(path, problem) from exc

__all__ = ["FileGroups", "OpenedSession", "SessionTarget", "classify_files", "open_session", "session_target"]


@dataclass(frozen=True)
class SessionTarget:
    """What a session file points at: the list to open (its model is read once it is open, see
    :mod:`~bhb_viewer.review.model_choice`)."""

    session: Path
    candidates: Path  # a catalog file or a data-set folder


def session_target(path: Path) -> SessionTarget:
    """Read which list the session ``path`` was made for, without keeping it open.

    Parameters
    ----------
    path : Path
        A ``.sqlite`` session file.

    Returns
    -------
    SessionTarget

    Raises
    ------
    BadInputError
        The file is not a readable session (also one edited by hand into another shape).
    """
    require_regular_file(path, "session file")  # a named pipe would block SQLite, and the window with it
    with _usable(Path(path)), Session.open(path) as probe:
        catalog = Path(probe.catalog.path)
    candidates = catalog.parent if catalog.name == "catalog.ecsv" else catalog
    return SessionTarget(Path(path), candidates)


@dataclass(frozen=True)
class OpenedSession:
    """A session ready to record, and a warning when its catalog is not the file it was started on."""

    session: Session
    warning: tuple[str, str] | None = None  # (title, text)


def open_session(source: CandidateSource, session_path: Path | None, data_dir: Path, reviewer: str) -> OpenedSession:
    """Open (or create) the session of ``source``, checking the catalog's hash against the one recorded.

    Parameters
    ----------
    source : CandidateSource
        The list being opened.
    session_path : Path or None
        The session the person chose; None: the one next to the catalog (or in ``data_dir``).
    data_dir : Path
        Where sessions of read-only catalogs go.
    reviewer : str
        Recorded with every verdict.

    Returns
    -------
    OpenedSession
        Verdicts are matched by id, so a changed catalog is a warning, not a refusal.

    Raises
    ------
    BadInputError, OSError
        The session cannot be read or created (a damaged or hand-edited one is a BadInputError).
    """
    path = session_path or session_path_for(source, data_dir)
    ref = CatalogRef.from_file(source.catalog_file, len(source))
    if not path.exists():
        return OpenedSession(Session.create(path, ref, reviewer))
    with _usable(path):
        session = Session.open(path, reviewer=reviewer)
    try:
        with _usable(path):
            session.states()  # every table the review reads, before the window shows the list
            known = session.catalog.sha256
    except BadInputError:
        session.close()
        raise
    if known == ref.sha256:
        return OpenedSession(session)
    log.info("catalog %s changed since session %s was started", source.catalog_file, path)
    text = (f"{source.catalog_file} is not the file this session was started on "
            f"({session.catalog.n_rows} rows then, {ref.n_rows} now); verdicts are matched by id.")
    return OpenedSession(session, ("The catalog changed", text))


@dataclass
class FileGroups:
    """Files the person opened or dropped, by what the review does with them."""

    lists: list[Path] = field(default_factory=list)  # catalogs, data sets, spectrum files, sessions
    cubes: list[Path] = field(default_factory=list)  # u,g,r,i,z cubes for the candidate on show
    band_images: list[Path] = field(default_factory=list)  # one image per band, cut out at its position
    problems: list[str] = field(default_factory=list)  # files that could not be read, with why


def classify_files(paths: list[Path]) -> FileGroups:
    """Sort ``paths`` into lists to open, cubes and band images (the same sniffing as ``bhb inspect``).

    Parameters
    ----------
    paths : list of Path

    Returns
    -------
    FileGroups
    """
    groups = FileGroups()
    for path in paths:
        if path.name.endswith(".sqlite"):
            groups.lists.append(path)
            continue
        try:
            kind = file_kind(path)
        except BadInputError as exc:
            groups.problems.append(str(exc))
            continue
        {"cube": groups.cubes, "image": groups.band_images}.get(kind, groups.lists).append(path)
    return groups
