"""The session file's tables, grown by ordered migrations keyed on SQLite's ``PRAGMA user_version``.

Why migrations: release 1 (meta ``format_version`` 1) created four tables with the file and added
``writers``, ``reviews``, ``head_scores`` and the events' ``blind`` column with ``CREATE TABLE IF NOT
EXISTS`` / ``ALTER TABLE`` whenever a write first needed them, so a file's schema depended on what
had happened to it. Now every change to the schema is one function appended to :data:`MIGRATIONS`,
and a file records in ``user_version`` how many of them it has had; opening runs the rest, in
order, in one transaction, so every reader can count on every table.

Release 1 left ``user_version`` at 0. Its files have step 1's tables (it wrote them at creation)
and some or none of step 2's, which is why step 2 creates only what is missing. The meta
``format_version`` stays 1 while the steps only add what release 1 ignores, so an upgraded file
still opens there; it is raised only for a change that an older release could not read.

The tables: ``meta`` (JSON values by key), ``events`` (the verdict log, never updated or deleted),
``current`` (per candidate the verdict and note edits in force), ``scores`` and ``head_scores`` (the
model-score cache), ``writers`` (the handles open for writing) and ``reviews`` (a merged session's
source reviewers); the module that writes each says from which thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from bhb_viewer.core.errors import BadInputError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "is_current", "schema_version", "upgrade"]

_FORMAT1_TABLES = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('verdict', 'note', 'undo', 'redo')),
        cid TEXT,
        value TEXT,
        prev INTEGER REFERENCES events(seq),
        target INTEGER REFERENCES events(seq),
        blind INTEGER)""",
    """CREATE TABLE current (
        cid TEXT PRIMARY KEY,
        verdict_seq INTEGER REFERENCES events(seq),
        note_seq INTEGER REFERENCES events(seq))""",
    """CREATE TABLE scores (
        model_name TEXT NOT NULL, model_version TEXT NOT NULL, cid TEXT NOT NULL, p_bhb REAL NOT NULL,
        PRIMARY KEY (model_name, model_version, cid)) WITHOUT ROWID""",
)

# What release 1 added at its first write; IF NOT EXISTS because a release-1 file may hold any of them.
_FORMAT1_ADDITIONS = (
    """CREATE TABLE IF NOT EXISTS writers (
        id TEXT PRIMARY KEY, reviewer TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
        opened TEXT NOT NULL, heartbeat REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS reviews (
        reviewer TEXT NOT NULL, cid TEXT NOT NULL, verdict TEXT, note TEXT NOT NULL, time TEXT NOT NULL,
        PRIMARY KEY (reviewer, cid)) WITHOUT ROWID""",
    # a fusion model's heads beside its p_bhb (NULL: that head had no data for the star)
    """CREATE TABLE IF NOT EXISTS head_scores (
        model_name TEXT NOT NULL, model_version TEXT NOT NULL, cid TEXT NOT NULL,
        p_spectrum REAL, p_image REAL, score_from TEXT NOT NULL,
        PRIMARY KEY (model_name, model_version, cid)) WITHOUT ROWID""",
)


def _format1_tables(conn: sqlite3.Connection) -> None:
    """Step 1: the tables release 1 wrote with a new file."""
    for statement in _FORMAT1_TABLES:
        conn.execute(statement)


def _format1_additions(conn: sqlite3.Connection) -> None:
    """Step 2: what release 1 added when first needed, made where the file lacks it.

    ``events.blind`` (1 hidden scores, 0 shown, NULL unknown: a verdict from before the column,
    which never counts as blind) came last; files made before it lack the column.
    """
    for statement in _FORMAT1_ADDITIONS:
        conn.execute(statement)
    if "blind" not in {row[1] for row in conn.execute("PRAGMA table_info(events)")}:
        conn.execute("ALTER TABLE events ADD COLUMN blind INTEGER")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_format1_tables, _format1_additions)
SCHEMA_VERSION = len(MIGRATIONS)  # the user_version of a file this release has opened


def schema_version(conn: sqlite3.Connection) -> int:
    """How many migration steps the file has had (a release-1 file, user_version 0 with a meta table: 1)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        return 1
    return version


def upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Run the steps the file has not had and record them in ``user_version``; inside the caller's transaction.

    Raises
    ------
    BadInputError
        The file is from a newer release (a later step this one does not know).
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise BadInputError(path, f"written by a newer bhb-viewer (schema {version}; this one reads up to "
                                  f"{SCHEMA_VERSION})")
    for step in MIGRATIONS[version:]:
        step(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the file has had every step (checked before taking the write lock an upgrade needs)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION
