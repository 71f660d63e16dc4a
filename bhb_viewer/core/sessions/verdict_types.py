"""The words of a review, without the file: verdict kinds and their keys, what a session refers
to (catalog, model), a candidate's state, one change or imported edit, another writer.

Kept apart from ``core.sessions.verdicts`` (the SQLite session) so views, exports and merges can speak
of verdicts without the storage; ``core.sessions.verdicts`` re-exports every name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from bhb_viewer.core.files import file_sha256

CandidateId = str | int


class VerdictKind(Enum):
    """What a person decided a candidate is; ``value`` is what the session file and exports store."""

    BHB = "bhb"
    BLUE_STRAGGLER = "blue_straggler"
    MS_A = "ms_a"
    NON_BHB = "non_bhb"
    OTHER = "other"
    BAD_DATA = "bad_data"
    UNSURE = "unsure"

    @property
    def key(self) -> str:
        """The single keyboard key that records this verdict (shown on its button)."""
        return _KEYS[self]

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def model_class(self) -> int | None:
        """The model's binary class this verdict corresponds to (1 BHB, 0 non-BHB) or None if neither."""
        return MODEL_CLASS[self]

    @classmethod
    def from_key(cls, key: str) -> VerdictKind | None:
        return _BY_KEY.get(key.upper())

    @classmethod
    def parse(cls, text: str) -> VerdictKind:
        """A verdict from its label as on the app's buttons ("blue straggler") or its stored value
        ("blue_straggler"), any case; ValueError naming the accepted labels otherwise."""
        kind = _BY_NAME.get(" ".join(str(text).replace("_", " ").split()).lower())
        if kind is None:
            raise ValueError(f"unknown verdict {text!r}; use one of {', '.join(k.label for k in cls)}")
        return kind


_KEYS = {
    VerdictKind.BHB: "B",
    VerdictKind.BLUE_STRAGGLER: "S",
    VerdictKind.MS_A: "A",
    VerdictKind.NON_BHB: "N",
    VerdictKind.OTHER: "O",
    VerdictKind.BAD_DATA: "X",
    VerdictKind.UNSURE: "U",
}
_BY_KEY = {key: kind for kind, key in _KEYS.items()}
KIND_BY_VALUE = {kind.value: kind for kind in VerdictKind}  # faster than VerdictKind(value) in bulk reads
_LABELS = {
    VerdictKind.BHB: "BHB",
    VerdictKind.BLUE_STRAGGLER: "blue straggler",
    VerdictKind.MS_A: "main-sequence A",
    VerdictKind.NON_BHB: "non-BHB",
    VerdictKind.OTHER: "other",
    VerdictKind.BAD_DATA: "bad data",
    VerdictKind.UNSURE: "unsure",
}
_BY_NAME = {name.replace("_", " ").lower(): kind for kind in VerdictKind for name in (kind.value, _LABELS[kind])}
# NON_BHB exists because the model only says "not a BHB" (blue straggler or main-sequence A, the
# paper's negative class, not told apart); accepting a low score with Enter records exactly that.
MODEL_CLASS: dict[VerdictKind, int | None] = {
    VerdictKind.BHB: 1,
    VerdictKind.BLUE_STRAGGLER: 0,
    VerdictKind.MS_A: 0,
    VerdictKind.NON_BHB: 0,
    VerdictKind.OTHER: None,
    VerdictKind.BAD_DATA: None,
    VerdictKind.UNSURE: None,
}


def model_call(p_bhb: float, cut: float = 0.5) -> VerdictKind:
    """The verdict that accepting the model's call records: BHB when P(BHB) ≥ cut, else non-BHB."""
    return VerdictKind.BHB if p_bhb >= cut else VerdictKind.NON_BHB


def disagrees(kind: VerdictKind | None, p_bhb: float | None, cut: float = 0.5) -> bool:
    """True when a verdict names a class and the model's call at ``cut`` is the other one."""
    if kind is None or kind.model_class is None or p_bhb is None or p_bhb != p_bhb:
        return False
    return kind.model_class != int(p_bhb >= cut)


@dataclass(frozen=True)
class CatalogRef:
    """The candidate list a session vets: where it was, its content hash and its length."""

    path: str
    sha256: str
    n_rows: int

    @classmethod
    def from_file(cls, path: str | os.PathLike, n_rows: int) -> CatalogRef:
        return cls(str(Path(path).resolve()), file_sha256(path), int(n_rows))


@dataclass(frozen=True)
class ModelRef:
    """The model whose scores the reviewer saw."""

    name: str
    version: str
    checkpoint: str | None = None


class CandidateState(NamedTuple):
    """A candidate's verdict and note now in force; reviewer and time are the verdict's (the note's if no verdict).

    A named tuple rather than a dataclass: ``states()`` builds 100,000 of them at a time.
    """

    verdict: VerdictKind | None
    note: str
    reviewer: str
    time: str


@dataclass(frozen=True)
class Change:
    """What one call changed, for the GUI to refresh: the field of a candidate and its value now.

    ``applied`` is False for an undo or redo that was recorded but left the field alone because
    another reviewer has changed it since (their later verdict stands).
    """

    seq: int
    action: str  # verdict, note, undo or redo
    cid: str
    field: str  # verdict or note
    value: VerdictKind | str | None
    applied: bool = True


@dataclass(frozen=True)
class Edit:
    """One imported edit: a verdict and/or a note for a candidate, by a reviewer at a time.

    None for reviewer or time means this handle's reviewer, now.
    """

    cid: CandidateId
    verdict: VerdictKind | None = None
    note: str | None = None
    reviewer: str | None = None
    time: str | None = None


@dataclass(frozen=True)
class Writer:
    """Another handle open for writing on the same session file."""

    reviewer: str
    pid: int
    host: str
    opened: str
    heartbeat: float  # Unix time of its last sign of life


def now_stamp() -> str:
    """The time a session file records: UTC, ISO 8601 to the millisecond (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def agreement(states: Mapping[str, CandidateState], scores: Mapping[str, float], cut: float = 0.5) -> tuple[int, int]:
    """(agreeing, comparable): verdicts naming a class, on scored candidates, that match the model's call."""
    comparable = agree = 0
    for cid, st in states.items():
        p = scores.get(cid)
        if st.verdict is None or st.verdict.model_class is None or p is None:
            continue
        comparable += 1
        agree += not disagrees(st.verdict, p, cut)
    return agree, comparable
