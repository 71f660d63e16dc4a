"""Exporting the review: the vetted catalog written as a background job, and the model's validation
curve the threshold chooser draws.

The rows, columns and provenance are :func:`bhb_viewer.core.export.export_catalog`'s; this module
only puts the review's inputs (see :meth:`bhb_viewer.review.Review.export_inputs`) and the person's
choices together. A rule such as "the person's verdict wins over the model's call" belongs here
or in core.export, never in the dialog.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core.export import Selection, ThresholdSummary, export_catalog, load_validation
from bhb_viewer.core.progress import CancelToken, ProgressCallback
from bhb_viewer.review.runner import TaskFn

__all__ = ["export_task", "validation_curve"]


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
