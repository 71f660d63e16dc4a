"""Exporting the review: the vetted catalog written as a background job, and the model's validation
curve the threshold chooser draws.

The rows, columns and provenance are :func:`bhb_viewer.core.exports.export.export_catalog`'s; this module
only puts the review's inputs (see :meth:`bhb_viewer.review.Review.export_inputs`) and the person's
choices together. A rule such as "the person's verdict wins over the model's call" belongs here
or in core.exports.export, never in the dialog.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core.exports.export import Selection, ThresholdSummary, export_catalog, load_validation, model_accepted
from bhb_viewer.core.progress import CancelToken, ProgressCallback
from bhb_viewer.review.candidate_source import shipped_root
from bhb_viewer.review.runner import TaskFn

__all__ = ["AcceptedCounts", "accepted_counts", "default_export_path", "export_task", "validation_curve"]


@dataclass(frozen=True)
class AcceptedCounts:
    """How a model-accepted export at one cut comes together.

    Attributes
    ----------
    rows : int
        Rows the export keeps.
    by_score : int
        Rows at or above the cut, whatever a person said.
    added : int
        Rows below the cut (or unscored) kept because a person called them BHB.
    removed : int
        Rows at or above the cut left out because a person called them something else.
    """

    rows: int
    by_score: int
    added: int
    removed: int


def accepted_counts(inputs: dict[str, Any], cut: float) -> AcceptedCounts:
    """The numbers of a model-accepted export of ``inputs`` at ``cut`` (the rule is core.exports.export's).

    Parameters
    ----------
    inputs : dict
        :meth:`bhb_viewer.review.Review.export_inputs`.
    cut : float

    Returns
    -------
    AcceptedCounts
    """
    ids = [str(c) for c in inputs["catalog"]["id"]]
    scores = inputs.get("scores") or {}
    states = inputs["session"].states() if inputs.get("session") is not None else {}
    p = np.array([scores.get(c, np.nan) for c in ids], dtype=np.float64)
    verdicts = np.array([states[c].verdict.value if c in states and states[c].verdict else "" for c in ids])
    kept = model_accepted(p, verdicts, cut)
    above = np.nan_to_num(p, nan=-np.inf) >= cut
    return AcceptedCounts(int(kept.sum()), int(above.sum()), int((kept & ~above).sum()), int((above & ~kept).sum()))


def default_export_path(catalog_file: Path, documents: Path) -> Path:
    """Where an export goes unless the person says otherwise: beside the catalog, or in ``documents``
    when the catalog is shipped with the app (the demo) or its folder is not writable.

    Parameters
    ----------
    catalog_file : Path
        The session's catalog.
    documents : Path
        The user's documents folder (from the platform).

    Returns
    -------
    Path
        ``<catalog stem>-vetted.csv`` in the chosen folder.
    """
    name = catalog_file.stem + "-vetted.csv"
    folder = catalog_file.parent
    shipped = folder.resolve().is_relative_to(shipped_root())
    if shipped or not os.access(folder, os.W_OK):
        return documents / name
    return folder / name


def validation_curve(checkpoint: Path | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Labels and P(BHB) of the validation set the checkpoint was chosen on, or None without a model.

    Parameters
    ----------
    checkpoint : Path or None
        The active model's checkpoint directory.

    Returns
    -------
    tuple of (ndarray, ndarray) or None

    Raises
    ------
    BadInputError
        The checkpoint has no readable ``validation.json``.
    """
    return None if checkpoint is None else load_validation(checkpoint)


def export_task(path: Path, inputs: dict[str, Any], fmt: str, selection: Selection, cut: float | None = None,
                threshold: ThresholdSummary | None = None) -> TaskFn:
    """A job that writes the export (temporary file, then rename) and yields its path.

    Parameters
    ----------
    path : Path
        The file to write.
    inputs : dict
        :meth:`bhb_viewer.review.Review.export_inputs`.
    fmt : str
        'csv', 'ecsv', 'fits' or 'votable'.
    selection : Selection
        Which rows.
    cut : float or None
        P(BHB) cut for model-accepted rows.
    threshold : ThresholdSummary or None
        The validation purity/completeness at ``cut``, recorded in the provenance.

    Returns
    -------
    callable
        ``fn(cancel, progress)`` for a runner.
    """
    options: dict[str, Any] = {
        "fmt": fmt,
        "selection": selection,
        "scores": inputs.get("scores"),
        "model": inputs.get("model"),
        "extra_columns": inputs.get("extra_columns") or None,
    }
    if selection is Selection.MODEL_ACCEPTED:
        options["cut"] = cut
        options["threshold"] = threshold

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[Path]:
        yield export_catalog(path, inputs["catalog"], inputs.get("session"), **options)

    return fn
