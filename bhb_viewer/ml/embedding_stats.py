"""How far a star is from the training set in the model's own embedding, and the training sky's record.

Why: the template fit (core.science.stellar_fit) catches spectra unlike any star; the embedding catches
inputs unlike the *training* stars as the network sees them (a cutout with a neighbour, colours
of another sky). The fusion model's CLS token is its embedding; its mean, a shrunk covariance and
the 99.9th percentile of the Mahalanobis distances of stars like them are stored beside the weights
(``embedding_stats.safetensors``), once for the full pass and, for a model that reads colours,
once for the pass without cutouts (a star scored from spectrum and colours). Each scored star's
``embedding_distance`` is its distance in units of that percentile: above 1 it is flagged
``ood:embedding``. The percentile is taken over held-out stars of the same sky where there are any
(``bhb train``: its validation split): the training stars themselves sit closer, having been
fitted, and a limit set on them flags several times more unseen stars of that very sky. The ranges of colours, g, S/N
and fitted parameters go into ``training_sky.json`` (core.science.trust.TrainingSky). A checkpoint without them
still loads and scores; its scores simply carry no such flags, and ``bhb models describe-sky``
adds them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from bhb_viewer.core.dataset import Dataset
from bhb_viewer.core.progress import ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.science.trust import TrainingSky, training_ranges

EMBEDDING_FILE = "embedding_stats.safetensors"
SHRINKAGE = 0.05  # towards the mean variance: a covariance over a few thousand stars in d ≥ 64 needs it
LIMIT_PERCENTILE = 99.9


NO_IMAGE = "_no_image"  # key suffix of the statistics of the pass without cutouts


def fit_stats(embeddings: np.ndarray, suffix: str = "", held_out: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Mean, precision (inverse of the shrunk covariance) of training embeddings (N × D), and the distance
    limit over ``held_out`` embeddings of the same sky (over the training ones where None)."""
    x = np.asarray(embeddings, dtype=np.float64)
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * np.trace(cov) / len(cov) * np.eye(len(cov))
    stats = {"mean": mean.astype(np.float32), "precision": np.linalg.inv(cov).astype(np.float32),
             "limit": np.ones(1, np.float32)}
    reference = x if held_out is None or not len(held_out) else np.asarray(held_out, dtype=np.float64)
    stats["limit"][0] = np.percentile(distances(reference, stats), LIMIT_PERCENTILE)
    return {key + suffix: value for key, value in stats.items()}


def distances(embeddings: np.ndarray, stats: dict[str, np.ndarray], suffix: str = "") -> np.ndarray:
    """Mahalanobis distance of each row to the training mean, in units of the limit (1 = the 99.9th percentile)."""
    d = np.asarray(embeddings, dtype=np.float64) - stats["mean" + suffix]
    m = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, stats["precision" + suffix].astype(np.float64), d), 0.0))
    return m / float(stats["limit" + suffix][0])


def load_stats(model_dir: str | Path) -> dict[str, np.ndarray] | None:
    """The checkpoint's embedding statistics, or None where it has none (an older checkpoint)."""
    path = Path(model_dir) / EMBEDDING_FILE
    return load_file(str(path)) if path.is_file() else None


def describe_sky(model_dir: str | Path, data: Dataset, rows: np.ndarray | None = None, batch_size: int = 256,
                 progress: ProgressCallback = no_progress, held_out: np.ndarray | None = None) -> TrainingSky:
    """Record the training sky of ``model_dir`` from the stars it was trained on (``rows`` of ``data``).

    ``held_out`` rows of the same data set (stars the model never trained on) set the embedding
    distance limit. Writes ``embedding_stats.safetensors`` (a model with an embedding) and
    ``training_sky.json`` into the checkpoint folder and returns the record.
    """
    from bhb_viewer.ml.inference import Predictor

    rows = np.arange(len(data)) if rows is None else np.asarray(rows, dtype=np.int64)
    predictor = Predictor(model_dir, device="cpu")
    embeddings, values = _embeddings(predictor, data, rows, batch_size, progress, ranges=True)
    reference: dict[str, np.ndarray] = {}
    if held_out is not None and len(held_out):
        reference, _ = _embeddings(predictor, data, np.asarray(held_out, dtype=np.int64), batch_size, progress,
                                   ranges=False)
    stats = {}
    for suffix, emb in embeddings.items():
        stats.update(fit_stats(emb, suffix, reference.get(suffix)))
    if stats:
        save_file(stats, str(Path(model_dir) / EMBEDDING_FILE))
    sky = TrainingSky(training_ranges(values), bool(stats), len(rows), f"{data.path} ({len(rows)} stars)")
    sky.save(model_dir)
    return sky


def _embeddings(predictor, data: Dataset, rows: np.ndarray, batch_size: int, progress: ProgressCallback,
                ranges: bool) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The rows' CLS embeddings per pass ("" full, NO_IMAGE without cutouts, where the model has them)
    and, with ``ranges``, the quantities the training sky's ranges are made of (the template fit: the
    held-out pass needs only the embeddings)."""
    from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes
    from bhb_viewer.ml.scoring import ChunkSource

    mags = catalog_magnitudes(data.catalog)[rows]
    # the template fit for the ranges; no Balmer-line fits, which the record does not use
    source = ChunkSource(
        data, rows, batch_size, predictor.preprocessor, predictor.modalities, classical=False, mags=mags,
        second_opinion=ranges,
    )
    no_image = predictor.reads_colours and "image" in predictor.modalities
    parts: dict[str, list[np.ndarray]] = {"": [], NO_IMAGE: []}
    quantities = []
    for k in range(len(source)):
        item = source[k]
        for suffix, with_image in (("", True), (NO_IMAGE, False)):
            if suffix == "" or no_image:
                emb = predictor.embedding_prepared(item["inputs"], with_image=with_image)
                if emb is not None:
                    parts[suffix].append(emb)
        if ranges:
            quantities.append(item["quantities"])
        progress(ProgressEvent("describe", source.bounds(k)[1], len(rows), "training sky"))
    values = {key: np.concatenate([q[key] for q in quantities]) for key in quantities[0]} if quantities else {}
    return {suffix: np.concatenate(p) for suffix, p in parts.items() if p}, values
