"""The vetted catalog as CSV / ECSV / FITS / VOTable: every row says who decided, when, and which
model scored it; the table says where it came from. Files are written under a temporary name in
the target directory and renamed, so a crash or a failing writer never leaves a half-written export.

Provenance keys are upper case and at most 8 characters so the same names work as FITS header
keywords. Where they go, per format (:func:`read_provenance` reads any of them back):

========  ===========================================================================
ECSV      ``table.meta`` (YAML header)
FITS      header of the table HDU
VOTable   one ``INFO`` element per key (JSON value), plus a one-line ``DESCRIPTION``
CSV       ``# KEY: <JSON value>`` comment lines before the header (astropy: ``comment="#"``)
========  ===========================================================================

In CSV, text cells that a spreadsheet would run as a formula (an id or note starting with ``=``,
``+``, ``-`` or ``@``) are written with a leading ``'`` (:func:`neutralise_formula`); the other
formats keep the true text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import MaskedColumn, Table

from bhb_viewer import __version__
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.exports.team_export import TEAM_PROVENANCE_KEYS, session_extras
from bhb_viewer.core.files import remove_stale, write_atomic
from bhb_viewer.core.science.metrics import precision_recall_curve, purity_completeness_at
from bhb_viewer.core.science.trust import is_ood
from bhb_viewer.core.sessions.verdicts import CandidateState, ModelRef, Session

PROVENANCE_KEYS: dict[str, str] = {
    "SOFTWARE": "program and version that wrote the file",
    "EXPORTED": "export time (UTC, ISO 8601)",
    "SELECTN": "rows exported: vetted, all or model-accepted",
    "NROWS": "number of rows exported",
    "SESSION": "review session file",
    "REVIEWER": "reviewer who owns the session",
    "CATALOG": "candidate catalog file",
    "CATSHA": "sha256 of the candidate catalog file",
    "CATROWS": "rows in the candidate catalog",
    "MODEL": "model name",
    "MODELVER": "model version",
    "MODELCKP": "model checkpoint directory",
    "PCUT": "P(BHB) cut of the model-accepted selection",
    "PURITY": "validation purity (precision) at PCUT",
    "COMPLETE": "validation completeness (recall) at PCUT",
    "NVAL": "validation stars behind PURITY and COMPLETE",
    "OODRULE": "how trust flags (core.science.trust) decide the model-accepted selection",
    **TEAM_PROVENANCE_KEYS,  # merged sessions' agreement and the blind audit's purity
}
CLASSICAL_COLUMNS = ("d02", "fm", "b_hg", "c_hg", "classical_bhb")
FORMATS = {"csv": "ascii.csv", "ecsv": "ascii.ecsv", "fits": "fits", "votable": "votable"}
_SUFFIXES = {
    ".csv": "csv", ".ecsv": "ecsv", ".fits": "fits", ".fit": "fits", ".fts": "fits",
    ".vot": "votable", ".votable": "votable", ".xml": "votable",
}


class Selection(str, Enum):  # noqa: UP042 (str() of a member is relied on as the qualified name in messages)
    VETTED = "vetted"  # rows with a human verdict
    ALL = "all"
    MODEL_ACCEPTED = "model-accepted"  # P(BHB) ≥ the cut, unless a person decided otherwise (model_accepted)


# A person's verdict that leaves a star to the model's call: none, or "unsure".
UNDECIDED_VERDICTS = ("", "unsure")


def model_accepted(p_bhb, verdicts, cut: float, flags=None) -> np.ndarray:
    """Which rows a model-accepted export keeps: P(BHB) ≥ ``cut`` on a trusted score, except where a person decided.

    A person's verdict always wins over the model's: a star called BHB is kept whatever its score
    (scored or not), one called anything else (blue straggler, main-sequence A, non-BHB, other,
    bad data) is left out whatever its score; only "unsure" or no verdict leave it to the model.
    ``verdicts`` are the stored values ("bhb", "blue_straggler", …, "" for none). A score whose
    ``flags`` (core.science.trust) say out of distribution accepts nothing: a galaxy is no BHB star.
    """
    p = np.nan_to_num(np.asarray(p_bhb, dtype=np.float64), nan=-np.inf)
    verdicts = np.asarray(verdicts).astype(str)
    undecided = np.isin(verdicts, UNDECIDED_VERDICTS)
    trusted = np.ones(len(p), bool) if flags is None else ~is_ood(_strings(flags))
    return np.where(undecided, (p >= cut) & trusted, verdicts == "bhb")


# -- threshold numbers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdSummary:
    """Purity/completeness at a P(BHB) cut on the validation set, with the P–R curve behind them."""

    cut: float
    purity: float
    completeness: float
    n_selected: int
    n_val: int
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray

    def provenance(self) -> dict[str, Any]:
        return {"PCUT": self.cut, "PURITY": self.purity, "COMPLETE": self.completeness, "NVAL": self.n_val}


def threshold_summary(y_true_val, p_val, cut: float) -> ThresholdSummary:
    """The numbers the threshold chooser shows, from the core metrics (labels other than 0/1 are left out)."""
    y = np.asarray(y_true_val, dtype=np.int64).ravel()
    p = np.asarray(p_val, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{len(y)} labels but {len(p)} scores")
    keep = (y == 0) | (y == 1)
    y, p = y[keep], p[keep]
    purity, completeness, n_sel = purity_completeness_at(y, p, cut)
    precision, recall, thresholds = precision_recall_curve(y, p)
    return ThresholdSummary(float(cut), purity, completeness, n_sel, int(len(y)), precision, recall, thresholds)


def load_validation(checkpoint_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(labels, p_bhb) of the validation set from the trainer's ``validation.json`` in a checkpoint
    directory (a file inside it, e.g. its ``config.json``, names the same directory)."""
    folder = Path(checkpoint_dir)
    path = (folder.parent if folder.is_file() else folder) / "validation.json"
    try:
        data = json.loads(path.read_text())
        labels = np.asarray(data["label"], dtype=np.int64)
        p = np.asarray(data["p_bhb"], dtype=np.float64)
    except FileNotFoundError as exc:
        raise BadInputError(path, "no validation results in this checkpoint") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(path, f"validation results unreadable ({exc!r})") from exc
    if labels.ndim != 1 or labels.shape != p.shape:
        raise BadInputError(path, f"{labels.size} labels but {p.size} scores")
    if not np.all(np.isfinite(p) & (p >= 0) & (p <= 1)):
        raise BadInputError(path, "p_bhb values must lie in [0, 1]")
    return labels, p


# -- building the table --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSources:
    """Where an export's verdicts, model and scores come from: what the caller gave, else the session's.

    ``scores`` default to the session's cache for the model (None when there is neither, and a
    catalog's own ``p_bhb`` column is then kept).
    """

    states: Mapping[str, CandidateState]
    model: ModelRef | None
    scores: Mapping[str, float] | None

    @classmethod
    def resolve(cls, session: Session | None, states: Mapping[str, CandidateState] | None = None,
                model: ModelRef | None = None, scores: Mapping[str, float] | None = None) -> ExportSources:
        if session is None:
            return cls(states or {}, model, scores)
        states = session.states() if states is None else states
        model = model or session.model
        if scores is None and model is not None:
            scores = session.scores.load(model.name, model.version)
        return cls(states, model, scores)


def export_table(
    catalog: Table,
    session: Session | None = None,
    *,
    selection: Selection | str = Selection.VETTED,
    states: Mapping[str, CandidateState] | None = None,
    model: ModelRef | None = None,
    scores: Mapping[str, float] | None = None,
    cut: float | None = None,
    threshold: ThresholdSummary | None = None,
    extra_columns: Mapping[str, Any] | None = None,
    id_column: str = "id",
) -> Table:
    """The catalog with verdict, model and classical-diagnostic columns, the chosen rows, and provenance.

    Parameters
    ----------
    catalog : Table
        The candidate list, with an ``id_column``.
    session : Session, optional
        The verdict session; ``states``, ``model`` and ``scores`` default to its own (:class:`ExportSources`).
    selection : Selection or str
        ``"vetted"``, ``"all"`` or ``"model-accepted"`` (P(BHB) ≥ ``cut``; a person's verdict wins).
    states, model, scores : optional
        Verdict states by id, the model that scored, P(BHB) by id, when not the session's.
    cut : float, optional
        The decision cut; ``threshold`` supplies it (and its purity/completeness for provenance) when absent.
    threshold : ThresholdSummary, optional
        The threshold chooser's validation numbers.
    extra_columns : mapping, optional
        Columns added in catalog row order (e.g. classical diagnostics computed by the viewer).
    id_column : str
        The catalog's id column.

    Returns
    -------
    Table
        The chosen rows with verdict, reviewer, model, score and classical columns, provenance in ``meta``.
    """
    selection = Selection(selection)
    if id_column not in catalog.colnames:
        raise BadInputError(None, f"catalog has no {id_column!r} column to match verdicts to")
    sources = ExportSources.resolve(session, states, model, scores)
    cut = threshold.cut if cut is None and threshold is not None else cut
    if selection is Selection.MODEL_ACCEPTED and cut is None:
        raise ValueError("a model-accepted export needs a P(BHB) cut")

    out = Table(catalog, copy=True)
    for name, values in (extra_columns or {}).items():
        out[name] = values
    ids = [str(c) for c in out[id_column]]
    _add_verdicts(out, [sources.states.get(c) for c in ids])
    team_columns, team_provenance = session_extras(session, ids)
    for name, values in team_columns.items():
        out[name] = values
    _add_scores(out, ids, sources.scores, sources.model)
    out = _select(_classical_last(out), selection, cut)
    out.meta = {**_provenance(selection, len(out), session, sources.model, cut, threshold), **team_provenance}
    return out


def _add_verdicts(out: Table, found: list[CandidateState | None]) -> None:
    """verdict, verdict_label (the model class of the verdict, -1 for none), note, reviewer, verdict_time."""
    out["verdict"] = _strings(s.verdict.value if s and s.verdict else "" for s in found)
    out["verdict_label"] = np.array(
        [-1 if not s or not s.verdict or s.verdict.model_class is None else s.verdict.model_class for s in found],
        dtype=np.int16,
    )
    out["note"] = _strings(s.note if s else "" for s in found)
    out["reviewer"] = _strings(s.reviewer if s else "" for s in found)
    out["verdict_time"] = _strings(s.time if s else "" for s in found)



def _add_scores(out: Table, ids: list[str], scores: Mapping[str, float] | None, model: ModelRef | None) -> None:
    """p_bhb and the model that gave it, on scored rows; a catalog's own p_bhb is kept when there are no scores."""
    if scores:
        p = np.array([scores.get(c, np.nan) for c in ids], dtype=np.float64)
        out["p_bhb"] = p
        scored = ~np.isnan(p)
        out["model_name"] = np.where(scored, model.name if model else "", "")
        out["model_version"] = np.where(scored, model.version if model else "", "")
    elif "p_bhb" not in out.colnames:
        out["p_bhb"] = np.full(len(out), np.nan)
    for name in ("model_name", "model_version"):
        if name not in out.colnames:
            out[name] = np.full(len(out), "")


def _classical_last(out: Table) -> Table:
    """Classical diagnostics last, where present, so the human and machine evidence sit side by side."""
    return out[
        [c for c in out.colnames if c not in CLASSICAL_COLUMNS] + [c for c in CLASSICAL_COLUMNS if c in out.colnames]
    ]


def _select(out: Table, selection: Selection, cut: float | None) -> Table:
    if selection is Selection.VETTED:
        return out[out["verdict"] != ""]
    if selection is Selection.MODEL_ACCEPTED:
        assert cut is not None  # export_table refuses a model-accepted export without a cut
        flags = _filled(out["flags"]) if "flags" in out.colnames else None
        return out[model_accepted(out["p_bhb"], out["verdict"], cut, flags)]
    return out


def _filled(column) -> np.ndarray:
    """A string column's values with masked entries as ""."""
    return np.asarray(column.filled("") if hasattr(column, "filled") else column).astype(str)


def _strings(values) -> np.ndarray:
    """A string column that stays a string column when empty."""
    return np.array(list(values), dtype=str)


def _provenance(selection: Selection, n_rows: int, session: Session | None, model: ModelRef | None,
                cut: float | None, threshold: ThresholdSummary | None) -> dict[str, Any]:
    prov: dict[str, Any] = {
        "SOFTWARE": f"bhb_viewer {__version__}",
        "EXPORTED": datetime.now(UTC).isoformat(timespec="seconds"),
        "SELECTN": selection.value,
        "NROWS": n_rows,
    }
    if session is not None:
        prov.update(SESSION=str(Path(session.path).resolve()), REVIEWER=session.reviewer,
                    CATALOG=session.catalog.path, CATSHA=session.catalog.sha256, CATROWS=session.catalog.n_rows)
    if model is not None:
        prov.update(MODEL=model.name, MODELVER=model.version)
        if model.checkpoint:
            prov["MODELCKP"] = model.checkpoint
    if cut is not None:
        prov["PCUT"] = float(cut)
    if selection is Selection.MODEL_ACCEPTED:
        prov["OODRULE"] = "scores flagged ood:/sky: (core.science.trust) are not accepted"
    if threshold is not None:
        prov.update(threshold.provenance())
    return prov


# -- writing -------------------------------------------------------------------------------------


def format_for_path(path: str | os.PathLike) -> str:
    """Export format name (a key of FORMATS) from a file name; ``.gz`` after ``.fits`` is allowed."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes[-2:] == [".fits", ".gz"]:
        return "fits"
    fmt = _SUFFIXES.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise BadInputError(path, f"cannot tell the export format from the name; use one of {sorted(_SUFFIXES)}")
    return fmt


def _ascii_safe(text: str) -> str:
    """FITS holds ASCII only: keep notes such as 'Hδ wings' readable and lossless as 'H\\u03b4 wings'."""
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _write_fits(table: Table, path: Path) -> None:
    out = Table(table, copy=False)
    for name in out.colnames:
        col = out[name]
        if col.dtype.kind == "U":
            values = col.filled("") if isinstance(col, MaskedColumn) else col
            out[name] = _strings(_ascii_safe(str(v)) for v in values)
    out.meta = {k: _ascii_safe(v) if isinstance(v, str) else v for k, v in table.meta.items()}
    out.write(path, format="fits", overwrite=True)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str) -> str:
    """A cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first), prefixed
    with ``'`` so it shows as text, as spreadsheets expect; plain numbers such as ``-1.5`` are left alone.

    For CSV only: ECSV, FITS and VOTable keep the true text.
    """
    if not text.startswith(_FORMULA_START):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


def csv_safe(table: Table) -> Table:
    """The table with every text cell passed through :func:`neutralise_formula` (a shallow copy; numbers untouched)."""
    out = Table(table, copy=False)
    for name in out.colnames:
        col = out[name]
        if col.dtype.kind != "U" or col.ndim != 1:
            continue
        values = _strings(neutralise_formula(str(v)) for v in np.ma.getdata(col))
        out[name] = MaskedColumn(values, mask=np.ma.getmaskarray(col)) if isinstance(col, MaskedColumn) else values
    return out


def _write_csv(table: Table, path: Path) -> None:
    out = csv_safe(table)
    out.meta = {"comments": [f"{k}: {json.dumps(v)}" for k, v in table.meta.items()]}
    out.write(path, format="ascii.csv", comment="# ", overwrite=True)


def _votable_int(col) -> Any:
    """VOTable has no unsigned 64-bit integers: they become int64, or text where an id passes 2**63 (SDSS specobjid)."""
    values = col.compressed() if isinstance(col, MaskedColumn) else np.asarray(col)
    if values.size == 0 or values.max() <= np.iinfo(np.int64).max:
        return col.astype(np.int64)
    mask = np.ma.getmaskarray(col)
    return _strings("" if m else str(v) for v, m in zip(np.ma.getdata(col), mask, strict=False))


def _write_votable(table: Table, path: Path) -> None:
    from astropy.io.votable import from_table, writeto
    from astropy.io.votable.tree import Info

    out = Table(table, copy=False)
    for name in out.colnames:
        if out[name].dtype == np.uint64:
            out[name] = _votable_int(out[name])
    out.meta = {"description": "; ".join(f"{k}={v}" for k, v in table.meta.items())}
    vot = from_table(out)
    infos = vot.get_first_table().infos
    for key, value in table.meta.items():
        infos.append(Info(name=key, value=json.dumps(value)))
    writeto(vot, str(path))


def _write_ecsv(table: Table, path: Path) -> None:
    table.write(path, format="ascii.ecsv", overwrite=True)


_WRITERS = {"csv": _write_csv, "ecsv": _write_ecsv, "fits": _write_fits, "votable": _write_votable}


def write_table(table: Table, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write an export table (provenance in ``table.meta``) atomically in one of FORMATS."""
    fmt = fmt or format_for_path(path)
    if fmt not in _WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {sorted(FORMATS)}")
    remove_stale(Path(path).parent, Path(path).name)  # what an export killed halfway left behind
    return write_atomic(path, lambda tmp: _WRITERS[fmt](table, tmp))


def export_catalog(path: str | os.PathLike, catalog: Table, session: Session | None = None, *,
                   fmt: str | None = None, **options: Any) -> Path:
    """Build the export table (options as :func:`export_table`) and write it atomically; returns the path."""
    fmt = fmt or format_for_path(path)
    return write_table(export_table(catalog, session, **options), path, fmt)


def read_provenance(path: str | os.PathLike, fmt: str | None = None) -> dict[str, Any]:
    """The provenance keys of an export, whatever its format."""
    path = Path(path)
    fmt = fmt or format_for_path(path)
    if fmt == "fits":
        from astropy.io import fits

        meta = dict(fits.getheader(path, 1))
    elif fmt == "ecsv":
        meta = dict(Table.read(path, format="ascii.ecsv").meta)
    elif fmt == "votable":
        from astropy.io.votable import parse

        meta = {info.name: json.loads(info.value) for info in parse(str(path)).get_first_table().infos}
    else:
        meta = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("#"):
                    break
                key, _, value = line[1:].strip().partition(": ")
                meta[key] = json.loads(value)
    return {k: meta[k] for k in PROVENANCE_KEYS if k in meta}
