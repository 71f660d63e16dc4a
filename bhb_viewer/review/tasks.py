"""The review's background jobs as plain generator functions ``fn(cancel, progress)``.

They hold no Qt: a runner (:class:`bhb_viewer.gui.workers.TaskRunner` in the window, or
:class:`bhb_viewer.review.runner.InlineRunner` headless) runs them and hands each yielded item to
the review. Each function calls the core or the model and yields results in
batches, so the table fills while the work goes on and cancel takes effect between batches.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core import balmer
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent
from bhb_viewer.core.verdicts import ModelRef, Session
from bhb_viewer.review.candidate_source import CandidateSource, open_source

SCORE_CHUNK = 256  # rows read from the memory-mapped arrays and scored per step
CLASSICAL_CHUNK = 512
CLASSICAL_COLUMNS = ("d02", "fm", "b_hg", "c_hg", "balmer_ok", "classical_bhb")


@dataclass
class ModelInfo:
    name: str
    version: str
    device: str
    checkpoint: str

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.name, self.version, self.checkpoint)


@dataclass
class ScoreBatch:
    rows: np.ndarray
    p_bhb: np.ndarray
    cached: bool = False


@dataclass
class ClassicalBatch:
    rows: np.ndarray
    columns: dict[str, np.ndarray]  # d02, fm, b_hg, c_hg, balmer_ok, classical_bhb


@dataclass
class Detail:
    """Per-candidate extras made off the GUI thread: Balmer fit, explanation, fetched data."""

    row: int
    kind: str  # "balmer", "explain"; from SDSS: "spectrum" (flux, ivar) or "cube"
    value: Any


class PredictorHolder:
    """One Predictor per checkpoint, loaded on first use in a worker; calls are serialised.

    Scoring and per-candidate explanations share the model, and a model's attention hooks are not
    safe to run from two threads at once, so every forward pass goes through ``lock``.
    """

    def __init__(self, checkpoint: Path, device: str = "auto") -> None:
        self.checkpoint = Path(checkpoint)
        self.device = device
        self.lock = threading.Lock()
        self._predictor = None

    def get(self):
        with self.lock:
            if self._predictor is None:
                from bhb_viewer.ml.device import leave_one_core
                from bhb_viewer.ml.inference import Predictor

                leave_one_core()
                self._predictor = Predictor(self.checkpoint, device=self.device)
            return self._predictor

    def info(self) -> ModelInfo:
        pred = self.get()
        return ModelInfo(pred.model_name, pred.model_version, str(pred.device), str(self.checkpoint))


@dataclass
class Loaded:
    source: CandidateSource
    references: tuple[np.ndarray, np.ndarray] | None  # mean BHB / non-BHB flux of a labelled set


def load_task(path: Path):
    """Open a catalog / data set off the GUI thread: parsing a big table or averaging the reference
    spectra of a big labelled set takes seconds."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[Loaded]:
        progress(ProgressEvent("load", 0, 2, f"opening {path.name}"))
        source = open_source(path)
        progress(ProgressEvent("load", 1, 2, f"{len(source)} candidates"))
        cancel.check()
        references = source.reference_spectra()
        progress(ProgressEvent("load", 2, 2, f"{len(source)} candidates"))
        yield Loaded(source, references)

    return fn


def score_task(holder: PredictorHolder, source: CandidateSource, session: Session | None, rows: np.ndarray,
               batch_size: int = 64):
    """Score ``rows``: first the scores cached in the session for this model version, then the rest."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[ModelInfo | ScoreBatch]:
        progress(ProgressEvent("score", 0, len(rows), "loading model"))
        info = holder.info()
        yield info
        todo = rows
        if session is not None:
            cached = session.load_scores(info.name, info.version)
            if cached:
                ids = source.ids[rows]
                have = np.array([cid in cached for cid in ids], dtype=bool)
                if have.any():
                    yield ScoreBatch(rows[have], np.array([cached[c] for c in ids[have]]), cached=True)
                todo = rows[~have]
        done = len(rows) - len(todo)
        all_spectra, all_ivar, all_cubes = source.spectra, source.ivar, source.cutouts
        if all_spectra is None or all_ivar is None or all_cubes is None:
            raise BadInputError(source.origin, "the model needs each candidate's spectrum and cutouts")
        for start in range(0, len(todo), SCORE_CHUNK):
            cancel.check()
            chunk = np.sort(todo[start : start + SCORE_CHUNK])
            spectra = np.asarray(all_spectra[chunk], dtype=np.float32)
            ivar = np.asarray(all_ivar[chunk], dtype=np.float32)
            cubes = np.asarray(all_cubes[chunk], dtype=np.float32)
            batches = holder.get().predict(spectra, ivar, cubes, batch_size=batch_size, cancel=cancel)
            while True:
                with holder.lock:
                    result = next(batches, None)
                if result is None:
                    break
                p = np.asarray(result.p_bhb, dtype=np.float64)
                batch_rows = chunk[result.start : result.stop]
                if session is not None:
                    session.store_scores(info.ref, source.ids[batch_rows], p)
                done += len(p)
                progress(ProgressEvent("score", done, len(rows), f"on {info.device}"))
                yield ScoreBatch(batch_rows, p)

    return fn


def classical_task(source: CandidateSource):
    """The classical Balmer-line verdict of every spectrum, a chunk at a time."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[ClassicalBatch]:
        n, spectra, ivar = len(source), source.spectra, source.ivar
        if spectra is None or ivar is None:
            return
        for start in range(0, n, CLASSICAL_CHUNK):
            cancel.check()
            rows = np.arange(start, min(n, start + CLASSICAL_CHUNK))
            cols = balmer.measure_arrays(spectra[rows], ivar[rows])
            progress(ProgressEvent("classical", rows[-1] + 1, n, "Balmer-line fits"))
            yield ClassicalBatch(rows, {k: cols[k] for k in CLASSICAL_COLUMNS})

    return fn


def sdss_task(service, row: int, catalog_row):
    """Fetch (or read from the cache) the SDSS spectrum and cutout cube of one candidate.

    Each part that arrives is yielded on its own; the parts that failed are reported together at
    the end, so an offline cache holding only the cube still shows the cube.
    """
    from bhb_viewer.services.builder import row_spectrum

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[Detail]:
        ra, dec = float(catalog_row["ra"]), float(catalog_row["dec"])
        problems = []
        progress(ProgressEvent("sdss", 0, 2, f"spectrum of {catalog_row['id']}"))
        try:
            spectrum = row_spectrum(service, catalog_row)
            yield Detail(row, "spectrum", (spectrum.flux, spectrum.ivar))
        except (RuntimeError, BadInputError) as exc:  # SDSSError is a RuntimeError
            problems.append(f"spectrum: {exc}")
        cancel.check()
        progress(ProgressEvent("sdss", 1, 2, f"cutouts of {catalog_row['id']}"))
        try:
            yield Detail(row, "cube", service.cube(ra, dec).data)
        except (RuntimeError, BadInputError) as exc:
            problems.append(f"cutouts: {exc}")
        progress(ProgressEvent("sdss", 2, 2))
        if problems:
            raise RuntimeError("; ".join(problems))

    return fn


def detail_task(row: int, source: CandidateSource, holder: PredictorHolder | None, need_balmer: bool,
                need_explain: bool):
    """The Balmer fit and the model's explanation of one candidate (the one on show)."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[Detail]:
        spectrum = source.spectrum(row)
        if spectrum is None:
            return
        if need_balmer:
            yield Detail(row, "balmer", balmer.measure(*spectrum))
        cube = source.cube(row)
        if need_explain and holder is not None and cube is not None:
            cancel.check()
            predictor = holder.get()
            with holder.lock:
                explanation = predictor.explain_one(spectrum[0], spectrum[1], cube)
            yield Detail(row, "explain", explanation)

    return fn
