"""Scores of another model on a finished run's test split, for the wizard's side-by-side results.

A new model is only worth making active if it beats the one in use on the same stars, so the
active model scores exactly the rows the new run held out (``test.json``'s ``row``) of the same
data set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.errors import read_json
from bhb_viewer.core.progress import CancelToken, ProgressCallback, no_progress
from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes


def scores_on_test_split(
    checkpoint: str | os.PathLike,
    run_dir: str | os.PathLike,
    dataset: str | os.PathLike,
    device: str = "auto",
    cancel: CancelToken | None = None,
    progress: ProgressCallback = no_progress,
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, P(BHB)) of ``checkpoint`` on the test rows of the run in ``run_dir`` of ``dataset``.

    ``dataset`` is the folder the run trained on (a checkpoint records it by name only); its
    manifest hash must be the run's.

    Raises ValueError when the checkpoint cannot score them (a spectral baseline, another cutout
    size); the caller shows that message in place of the comparison.
    """
    from bhb_viewer.ml.inference import Predictor

    run = Path(run_dir)
    config = read_json(run / "config.json")
    test = read_json(run / "test.json")
    rows = np.asarray(test["row"], dtype=np.int64)
    data = open_dataset(dataset)
    if config.get("dataset_hash") not in (None, data.manifest_hash):
        raise ValueError(f"{dataset} is not the data set this run trained on (its manifest hash differs)")
    if not (Path(checkpoint) / "weights.safetensors").is_file():
        raise ValueError(f"{checkpoint}: the comparison scores networks only (a baseline has no Predictor yet)")
    predictor = Predictor(checkpoint, device=device)
    spectra, ivar = np.asarray(data.spectra[rows]), np.asarray(data.ivar[rows])
    cutouts = np.asarray(data.cutouts[rows])
    mags = catalog_magnitudes(data.catalog)[rows]  # read by a model with photometry, as in its training
    parts = [p.p_bhb for p in predictor.predict(spectra, ivar, cutouts, cancel=cancel, progress=progress, mags=mags)]
    return data.labels[rows], (np.concatenate(parts) if parts else np.zeros(0))
