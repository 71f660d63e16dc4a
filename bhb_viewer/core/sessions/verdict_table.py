"""A table of verdicts made elsewhere (``bhb sessions import``): read whole, checked whole.

Columns ``id, verdict`` and optionally ``note, reviewer, time``; verdicts as the app's key labels
("blue straggler") or as stored ("blue_straggler"). Every row is checked before anything is
written, and one message names every kind of problem with its first few rows, so a person fixes
the file once rather than once per error.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sessions.verdict_types import Edit, VerdictKind

MAX_LISTED = 10  # problems of one kind named in an error message
COLUMNS = ("id", "verdict", "note", "reviewer", "time")


class _Problems(dict[str, list[str]]):
    """Problems found so far, by kind, each with where it is."""

    def add(self, kind: str, where: str) -> None:
        self.setdefault(kind, []).append(where)

    def message(self) -> str:
        text = "; ".join(
            f"{len(items)} {kind}: {', '.join(items[:MAX_LISTED])}{' …' if len(items) > MAX_LISTED else ''}"
            for kind, items in self.items()
        )
        if "unknown verdicts" in self:
            text += f" (verdicts are {', '.join(k.label for k in VerdictKind)})"
        return f"nothing imported: {text}"


def read_verdict_table(path: Path, known_ids: set[str] | None) -> list[Edit]:
    """The edits of a verdicts CSV, or BadInputError naming the file and every kind of problem found.

    ``known_ids``, when given, are the session catalogue's ids: any other id is a problem.
    """
    header, rows = _read(path)
    col = {name: header.index(name) for name in COLUMNS if name in header}
    problems, seen, edits = _Problems(), dict[str, int](), list[Edit]()
    for line, row in rows:
        cell = {name: row[i].strip() if i < len(row) else "" for name, i in col.items()}
        cid = cell["id"]
        if not cid:
            problems.add("rows without an id", f"line {line}")
            continue
        if cid in seen:
            problems.add("ids given twice", f"{cid} (lines {seen[cid]} and {line})")
        seen[cid] = line
        if known_ids is not None and cid not in known_ids:
            problems.add("ids not in the session's catalog", cid)
        edits.append(Edit(cid, _verdict(cell, line, problems), cell.get("note") or None, cell.get("reviewer") or None,
                          _time(cell.get("time") or None, line, problems)))
    if problems:
        raise BadInputError(path, problems.message())
    return edits


def _read(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(lower-case header, [(line number, cells)]) without blank or ``#`` comment lines."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(n, r) for n, r in enumerate(csv.reader(f), start=1) if r and not r[0].startswith("#")]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BadInputError(path, f"cannot read the table ({exc})") from exc
    if not rows:
        raise BadInputError(path, "empty table; it needs a header with id and verdict")
    header = [h.strip().lower() for h in rows[0][1]]
    missing = [c for c in ("id", "verdict") if c not in header]
    if missing:
        raise BadInputError(path, f"no {' or '.join(missing)} column (columns: {', '.join(header)})")
    return header, rows[1:]


def _verdict(cell: dict[str, str], line: int, problems: _Problems) -> VerdictKind | None:
    if cell["verdict"]:
        try:
            return VerdictKind.parse(cell["verdict"])
        except ValueError:
            problems.add("unknown verdicts", f"{cell['verdict']!r} (line {line})")
    elif not cell.get("note"):
        problems.add("rows with neither verdict nor note", f"line {line}")
    return None


def _time(when: str | None, line: int, problems: _Problems) -> str | None:
    """An ISO 8601 time as the store writes it (UTC where no zone is given), or None."""
    if not when:
        return None
    try:
        stamp = datetime.fromisoformat(when)
    except ValueError:
        problems.add("times that are not ISO 8601", f"{when!r} (line {line})")
        return when
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).isoformat(timespec="milliseconds")
