"""Verdicts become a data set: the review → retrain loop's first step (``bhb dataset from-session``).

A session records what a person decided about each candidate; a data set is what training reads.
The mapping from verdicts to the model's two classes is the verdict store's (``VerdictKind.model_class``):
BHB → 1; blue straggler, main-sequence A and non-BHB → 0; other, unsure and bad data are no class
and are left out (counted, never silently dropped).

Each labelled candidate needs its spectrum and cutout cube. They come, in this order, from

1. the session's source when it is a data set (arrays by id, memory-mapped);
2. the base data set, when the candidate is in it (the person's verdict replaces its label);
3. files the session's catalog names (``spectrum`` / ``cutout`` columns, relative to the catalog);
4. an extra loader (the command passes one that reads the SDSS cache, offline).

Candidates none of these can serve are listed with the reason and skipped. With a base set, its
rows not vetted in the session are kept with their own labels; a base row the person marked other,
unsure or bad data is dropped (the person's verdict wins, also when it says "no class").

A set that cannot train (one class, or fewer than ``MIN_PER_CLASS`` of a class: the stratified
70/20/10 split would leave a split without it) is refused with the reason, before anything is written.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Row, Table

from bhb_viewer.core.dataset import LABEL_BHB, LABEL_NON_BHB, Dataset, is_dataset, open_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import CUTOUT_SIZE
from bhb_viewer.core.ingest.build import BuildReport, ImageFiles, SpectrumFiles, assemble
from bhb_viewer.core.progress import CancelToken, ProgressCallback, no_progress
from bhb_viewer.core.sessions.verdicts import Session, VerdictKind

log = logging.getLogger(__name__)

MIN_PER_CLASS = 10  # with 70/20/10 each class then has at least one star in every split
Loader = Callable[[Row], tuple[np.ndarray, np.ndarray, np.ndarray]]


class TooFewLabels(BadInputError):
    """The vetted (and base) stars cannot make a trainable set; the message says why."""


@dataclass
class VerdictLabels:
    """A session's verdicts split into class labels and the candidates left out."""

    labels: dict[str, int]  # candidate id -> 1 / 0
    excluded: dict[str, VerdictKind]  # candidate id -> other / unsure / bad data

    @property
    def n_bhb(self) -> int:
        return sum(1 for v in self.labels.values() if v == LABEL_BHB)

    @property
    def n_non_bhb(self) -> int:
        return sum(1 for v in self.labels.values() if v == LABEL_NON_BHB)


def verdict_labels(session: Session) -> VerdictLabels:
    """Class labels from the verdicts now in force (notes without a verdict are ignored)."""
    labels: dict[str, int] = {}
    excluded: dict[str, VerdictKind] = {}
    for cid, state in session.states().items():
        if state.verdict is None:
            continue
        if state.verdict.model_class is None:
            excluded[cid] = state.verdict
        else:
            labels[cid] = state.verdict.model_class
    return VerdictLabels(labels, excluded)


@dataclass
class FromSessionReport:
    """What ``build_from_session`` wrote (or would write): counts, and who was left out and why."""

    path: Path | None
    n_bhb: int
    n_non_bhb: int
    n_excluded: int  # verdicts other / unsure / bad data
    n_without_data: int
    n_from_session: int  # vetted stars in the set
    n_from_base: int  # base stars kept as they were
    without_data: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (id, verdict value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": None if self.path is None else str(self.path),
            "n_bhb": self.n_bhb, "n_non_bhb": self.n_non_bhb,
            "n_excluded": self.n_excluded, "n_without_data": self.n_without_data,
            "n_from_session": self.n_from_session, "n_from_base": self.n_from_base,
            "without_data": [{"id": i, "reason": r} for i, r in self.without_data],
            "excluded": [{"id": i, "verdict": v} for i, v in self.excluded],
        }


def check_label_counts(n_bhb: int, n_non_bhb: int, min_per_class: int = MIN_PER_CLASS) -> None:
    """Raise TooFewLabels naming the problem when two classes of ``min_per_class`` are not there."""
    if n_bhb == 0 or n_non_bhb == 0:
        missing = "BHB" if n_bhb == 0 else "non-BHB"
        raise TooFewLabels(None, f"only one class: no {missing} star ({n_bhb} BHB, {n_non_bhb} non-BHB); "
                                 "a classifier needs both")
    if min(n_bhb, n_non_bhb) < min_per_class:
        raise TooFewLabels(None, f"too few stars: {n_bhb} BHB and {n_non_bhb} non-BHB; each class needs at least "
                                 f"{min_per_class} so that the train, validation and test splits all hold it")


class _SourceArrays:
    """The session's candidate list and, where it has them, each candidate's arrays, by id."""

    def __init__(self, catalog_path: Path) -> None:
        self.path = catalog_path
        self.dataset: Dataset | None = None
        self.catalog: Table | None = None
        self.problem = ""
        folder = catalog_path.parent
        try:
            if is_dataset(folder):
                self.dataset = open_dataset(folder)
                self.catalog = self.dataset.catalog
            elif catalog_path.is_file():
                from bhb_viewer.core.readers.candidates import read_candidates

                self.catalog = read_candidates(catalog_path)
            else:
                self.problem = f"the session's catalog {catalog_path} is gone"
        except BadInputError as exc:  # a source that no longer reads still leaves the base and the cache
            self.problem = str(exc)
        if self.problem:
            log.warning("%s", self.problem)
        ids: list[str] = [] if self.catalog is None else np.asarray(self.catalog["id"]).astype(str).tolist()
        self.row_of = {cid: i for i, cid in enumerate(ids)}


def build_from_session(
    session_path: str | os.PathLike,
    out: str | os.PathLike | None,
    *,
    base: str | os.PathLike | None = None,
    extra_loader: Loader | None = None,
    min_per_class: int = MIN_PER_CLASS,
    size: int | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> FromSessionReport:
    """Write the data set of a session's verdicts (merged with ``base``) to ``out``; see the module doc.

    Parameters
    ----------
    session_path : path
        The session file (``.session.sqlite``).
    out : path or None
        A new (or empty) data-set folder. None writes nothing: the report gives the counts the set
        would have (the wizard's data page), looking no further than the session's source and the base.
    base : path, optional
        A data set to merge with; on a shared id the person's verdict wins.
    extra_loader : callable, optional
        Row → (flux, ivar, cube), tried last for a star without data (e.g. the SDSS cache); it
        raises BadInputError to say "not here".
    min_per_class : int
        Fewest stars of each class a set may have.
    size : int, optional
        Cutout side; by default the base's, the source's or the grid's.
    progress, cancel
        As everywhere in the core.

    Returns
    -------
    FromSessionReport

    Raises
    ------
    TooFewLabels
        One class, or too few of one, before anything is written (or after loading, when stars
        without data left too few); nothing is left at ``out``.
    BadInputError
        The session, the base or ``out`` cannot be used.
    """
    with Session.open(session_path) as session:
        vl = verdict_labels(session)
        source = _SourceArrays(Path(session.catalog.path))
    base_ds = open_dataset(base) if base is not None else None
    base_ids: list[str] = [] if base_ds is None else np.asarray(base_ds.catalog["id"]).astype(str).tolist()
    base_row = {cid: i for i, cid in enumerate(base_ids)}
    if size is None:
        size = int(base_ds.cutouts.shape[-1]) if base_ds else (
            int(source.dataset.cutouts.shape[-1]) if source.dataset else CUTOUT_SIZE)

    vetted = list(vl.labels)
    keep_base = [cid for cid in base_row if cid not in vl.labels and cid not in vl.excluded]
    rows = _rows_table(vetted, keep_base, source, base_ds, base_row)
    base_labels = [] if base_ds is None else [int(base_ds.labels[base_row[c]]) for c in keep_base]
    labels = np.array([vl.labels[c] for c in vetted] + base_labels, dtype=np.int64)
    load = _loader(source, base_ds, base_row, extra_loader if out is not None else None)
    excluded = sorted((cid, kind.value) for cid, kind in vl.excluded.items())

    if out is None:
        return _dry_run(vetted, keep_base, labels, source, base_row, excluded)

    # Known-unreachable stars first, so the class check runs before any file is written.
    unreachable = {c: why for c in vetted if (why := _unreachable(c, source, base_row, extra_loader))}
    reachable = np.array([c not in unreachable for c in list(rows["id"])], dtype=bool)
    check_label_counts(int(np.sum(labels[reachable] == 1)), int(np.sum(labels[reachable] == 0)), min_per_class)
    provenance = {
        "source": f"verdicts of {session.reviewer} in {Path(session_path).name}",  # what a checkpoint keeps
        "builder": "session",
        "session": str(Path(session_path).resolve()),
        "reviewer": session.reviewer,
        "candidates": str(source.path),
        "base": None if base is None else str(Path(base).resolve()),
        "base_hash": None if base_ds is None else base_ds.manifest_hash,
        "excluded": [{"id": i, "verdict": v} for i, v in excluded],
    }
    out = Path(out)
    report = _assemble_aside(out, lambda staging: assemble(
        staging, rows, load, labels=labels, provenance=provenance, size=size, progress=progress, cancel=cancel,
        stage="from-session"), min_per_class)
    without = list(report.rejected)
    base_missing = sum(1 for cid, _ in without if cid not in vl.labels)
    return FromSessionReport(out, report.n_bhb, report.n_non_bhb, len(excluded), len(without),
                             report.count - (len(keep_base) - base_missing), len(keep_base) - base_missing,
                             without, excluded)


def _dry_run(vetted: list[str], keep_base: list[str], labels: np.ndarray, source: _SourceArrays,
             base_row: dict[str, int], excluded: list[tuple[str, str]]) -> FromSessionReport:
    """The counts a set would have, from the stars with data reachable without reading files."""
    without = [(c, "no arrays in the session's source or the base set") for c in vetted
               if not (source.dataset is not None and c in source.row_of) and c not in base_row]
    missing = {c for c, _ in without}
    have = np.array([c not in missing for c in vetted] + [True] * len(keep_base), dtype=bool)
    lab = labels[have]
    return FromSessionReport(None, int(np.sum(lab == 1)), int(np.sum(lab == 0)), len(excluded), len(without),
                             int(have[: len(vetted)].sum()), len(keep_base), without, excluded)


def _assemble_aside(out: Path, build: Callable[[Path], BuildReport], min_per_class: int) -> BuildReport:
    """``build`` into a staging folder renamed to ``out`` only when the set passes the class check,
    so a refused or cancelled set leaves nothing at ``out``."""
    if out.exists() and any(out.iterdir()):
        raise BadInputError(out, "already exists and is not empty; choose another folder")
    staging = out.with_name(out.name + ".partial-session")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        report = build(staging)
        check_label_counts(report.n_bhb, report.n_non_bhb, min_per_class)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _unreachable(cid: str, source: _SourceArrays, base_row: dict[str, int], extra: Loader | None) -> str:
    """Why a vetted star surely has no data (empty when some loader may still serve it)."""
    if cid in base_row or (source.dataset is not None and cid in source.row_of):
        return ""
    if cid not in source.row_of and extra is None:
        return source.problem or "not in the session's catalog nor in the base set"
    return ""


def _rows_table(vetted: list[str], keep_base: list[str], source: _SourceArrays, base_ds: Dataset | None,
                base_row: dict[str, int]) -> Table:
    """The output catalog: each vetted star's row from the source (else the base), then the base rows kept."""
    records: list[dict[str, Any]] = []
    for cid in vetted:
        if source.catalog is not None and cid in source.row_of:
            records.append(_as_dict(source.catalog[source.row_of[cid]]))
        elif base_ds is not None and cid in base_row:
            records.append(_as_dict(base_ds.catalog[base_row[cid]]))
        else:
            records.append({"id": cid, "ra": np.nan, "dec": np.nan})
    records += [_as_dict(base_ds.catalog[base_row[c]]) for c in keep_base] if base_ds is not None else []
    names: list[str] = []
    for rec in records:
        names += [k for k in rec if k not in names and k != "label"]
    columns = {n: [rec.get(n) for rec in records] for n in names}
    table = Table({n: _column(v) for n, v in columns.items()})
    table["id"] = np.asarray([str(r["id"]) for r in records])
    return table


def _as_dict(row: Row) -> dict[str, Any]:
    return {name: (None if np.ma.is_masked(row[name]) else row[name]) for name in row.colnames}


def _column(values: list[Any]) -> Any:
    """A column from per-row values; a value missing in some rows becomes masked (NaN for floats)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float, np.integer, np.floating)) for v in present):
        return np.array([np.nan if v is None else float(v) for v in values]) if len(present) < len(values) \
            else np.asarray(present)
    return np.array(["" if v is None else str(v) for v in values])


def _loader(source: _SourceArrays, base_ds: Dataset | None, base_row: dict[str, int], extra: Loader | None) -> Loader:
    """Arrays for one output row: source data set, base set, files the catalog names, then ``extra``."""
    catalog_dir = source.path.parent
    spectrum_files, image_files = SpectrumFiles(None), ImageFiles(None)

    def load(row: Row) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cid = str(row["id"])
        if source.dataset is not None and cid in source.row_of:
            return _arrays(source.dataset, source.row_of[cid])
        if base_ds is not None and cid in base_row:
            return _arrays(base_ds, base_row[cid])
        reasons = [] if cid in source.row_of else [source.problem or "not in the session's catalog"]
        if cid in source.row_of:
            try:
                spectrum = spectrum_files.find(row, catalog_dir)
                return spectrum.flux, spectrum.ivar, image_files.cube(row, catalog_dir)
            except BadInputError as exc:
                reasons.append(exc.problem)
        if extra is not None:
            try:
                return extra(row)
            except BadInputError as exc:
                reasons.append(exc.problem)
        raise BadInputError(cid, "no spectrum and cutout: " + "; ".join(reasons))

    return load


def _arrays(ds: Dataset, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.asarray(ds.spectra[i], dtype=np.float32), np.asarray(ds.ivar[i], dtype=np.float32),
            np.asarray(ds.cutouts[i], dtype=np.float32))
