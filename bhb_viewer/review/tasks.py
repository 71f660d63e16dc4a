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
from typing import TYPE_CHECKING, Any

import numpy as np

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent
from bhb_viewer.core.science import balmer, trust
from bhb_viewer.core.science.stellar_fit import FIT_COLUMNS
from bhb_viewer.core.science.trust import TrainingSky
from bhb_viewer.core.sessions.verdicts import ModelRef, Session
from bhb_viewer.review.candidate_source import CandidateSource, open_source
from bhb_viewer.review.known_catalogue import KnownMatch, match_list, read_user_catalogue

if TYPE_CHECKING:
    from bhb_viewer.ml.inference import Predictor

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
    # each modality head's score and which one p_bhb is (None: the model does not say)
    p_spectrum: np.ndarray | None = None
    p_image: np.ndarray | None = None
    score_from: np.ndarray | None = None


@dataclass
class ClassicalBatch:
    rows: np.ndarray
    columns: dict[str, np.ndarray]  # d02, fm, b_hg, c_hg, balmer_ok, classical_bhb; the fit's columns, flags


@dataclass
class Detail:
    """Per-candidate extras made off the GUI thread: Balmer fit, explanation, fetched data."""

    row: int
    kind: str  # "balmer", "explain"; from SDSS: "spectrum" (GridSpectrum), "cube" or "problems" (text)
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
        self._predictor: Predictor | None = None

    def get(self) -> Predictor:
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
    known: KnownMatch | None = None  # its known stars (None: the list has no positions)
    known_problem: str | None = None  # why the user's catalogue of known stars was left out


def load_task(path: Path, user_catalogue: Path | None = None):
    """Open a catalog / data set off the GUI thread: parsing a big table, matching it against the
    catalogues of known stars (the shipped ones and ``user_catalogue``, see
    :mod:`bhb_viewer.review.known_catalogue`) or averaging the reference spectra of a big labelled
    set takes seconds. A user's catalogue that cannot be read leaves the list opened with the shipped
    catalogues' matches and says why."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[Loaded]:
        progress(ProgressEvent("load", 0, 2, f"opening {path.name}"))
        source = open_source(path)
        problem = None
        user = None
        if user_catalogue is not None:
            try:
                user = read_user_catalogue(user_catalogue)
            except BadInputError as exc:
                problem = str(exc)
        known = match_list(source.catalog, user)
        if known is not None:
            source.catalog["known_as"], source.catalog["known_sep_arcsec"] = known.known_as, known.sep
        progress(ProgressEvent("load", 1, 2, f"{len(source)} candidates"))
        cancel.check()
        references = source.reference_spectra()
        progress(ProgressEvent("load", 2, 2, f"{len(source)} candidates"))
        yield Loaded(source, references, known, problem)

    return fn


def known_task(user_catalogue: Path | None, catalog, base: tuple[np.ndarray, np.ndarray] | None):
    """Read a newly chosen catalogue of known stars (None: the shipped ones only) and match the open
    list against it (``catalog`` None: no list open); yields the list's :class:`KnownMatch` or None.
    A file that cannot be used raises BadInputError, so the setting is kept only for one that can."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[KnownMatch | None]:
        progress(ProgressEvent("known", 0, 1, "reading the catalogue of known stars"))
        user = read_user_catalogue(user_catalogue) if user_catalogue is not None else None
        cancel.check()
        yield None if catalog is None else match_list(catalog, user, base)
        progress(ProgressEvent("known", 1, 1, "known stars matched"))

    return fn


def score_task(holder: PredictorHolder, source: CandidateSource, session: Session | None, rows: np.ndarray,
               batch_size: int = 64, stage: str = "score", use_cache: bool = True):
    """Score ``rows``: first the scores cached in the session for this model version (unless the
    data changed since: ``use_cache`` False), then the rest. A row with only a spectrum, or only
    cutouts, is scored by the model's head for it where the checkpoint has one (a model that reads
    colours scores a spectrum with g and r magnitudes from both), else left unscored. The catalogue's
    magnitudes go with every row."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[ModelInfo | ScoreBatch]:
        progress(ProgressEvent(stage, 0, len(rows), "loading model"))
        info = holder.info()
        yield info
        todo = _scorable(holder.get(), source, rows)
        if len(todo) < len(rows):
            lacking = len(rows) - len(todo)
            progress(ProgressEvent(stage, 0, len(rows), f"{lacking} candidates lack what the model needs"))
        if session is not None and use_cache:
            cached = session.scores.load(info.name, info.version)
            if cached:
                ids = source.ids[rows]
                have = np.array([cid in cached for cid in ids], dtype=bool)
                if have.any():
                    yield ScoreBatch(rows[have], np.array([cached[c] for c in ids[have]]), True,
                                     *_cached_heads(session.scores.heads(info.name, info.version), ids[have]))
                todo = rows[~have]
        done = len(rows) - len(todo)
        total = done + len(todo)
        for start in range(0, len(todo), SCORE_CHUNK):
            cancel.check()
            chunk = np.sort(todo[start : start + SCORE_CHUNK])
            spectra, ivar, cubes = source.arrays(chunk)  # fetched or dropped data where a row has it
            batches = holder.get().predict(spectra, ivar, cubes, batch_size=batch_size, cancel=cancel,
                                           mags=source.mags[chunk])
            while True:
                with holder.lock:
                    result = next(batches, None)
                if result is None:
                    break
                p = np.asarray(result.p_bhb, dtype=np.float64)
                batch_rows = chunk[result.start : result.stop]
                heads = _modality_scores(result)
                if session is not None:
                    session.scores.store(info.ref, source.ids[batch_rows], p, *heads)
                done += len(p)
                progress(ProgressEvent(stage, done, total, f"on {info.device}"))
                yield ScoreBatch(batch_rows, p, False, *heads)

    return fn


def _scorable(predictor, source: CandidateSource, rows: np.ndarray) -> np.ndarray:
    """The rows the model can score: with every modality it reads, with one it has a trusted head for,
    or (a model that reads colours) with a spectrum and g, r magnitudes."""
    has_s, has_i = source.parts(rows)
    return rows[predictor.can_score(has_s, has_i, source.mags[rows])]


def _modality_scores(result) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The spectrum head's and the image head's P(BHB) and ``score_from`` of a Predictor batch (None
    each where the batch does not carry them)."""
    p_s, p_i, source = result.p_bhb_spectrum, result.p_bhb_image, result.score_from
    return (None if p_s is None else np.asarray(p_s, np.float64), None if p_i is None else np.asarray(p_i, np.float64),
            None if source is None else np.asarray(source).astype(str))


def _cached_heads(heads: dict[str, tuple[float, float, str]], ids: np.ndarray
                  ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The session's cached head scores of ``ids`` as a ScoreBatch carries them (all None unless
    every one of them is cached: a partial set would show blanks as "no data")."""
    if not heads or not all(cid in heads for cid in ids):
        return None, None, None
    rows = [heads[cid] for cid in ids]
    return (np.array([r[0] for r in rows], np.float64), np.array([r[1] for r in rows], np.float64),
            np.array([r[2] for r in rows]).astype(str))


def classical_task(source: CandidateSource, sky: TrainingSky | None = None):
    """The classical Balmer-line verdict of every spectrum, a chunk at a time, with the physical
    second opinion (core.science.stellar_fit) and the trust flags (core.science.trust, against ``sky``: the active
    model's training sky, None when it has no record)."""

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[ClassicalBatch]:
        n, spectra, ivar = len(source), source.spectra, source.ivar
        if spectra is None or ivar is None:
            return
        for start in range(0, n, CLASSICAL_CHUNK):
            cancel.check()
            rows = np.arange(start, min(n, start + CLASSICAL_CHUNK))
            cols = balmer.measure_arrays(spectra[rows], ivar[rows])
            fit, quantities = trust.measure(spectra[rows], ivar[rows], source.mags[rows])
            columns = {k: cols[k] for k in CLASSICAL_COLUMNS}
            columns.update({k: fit[k] for k in (*FIT_COLUMNS, "box_bhb")})
            columns["flags"] = trust.flags({**fit, **cols}, sky, quantities)
            progress(ProgressEvent("classical", rows[-1] + 1, n, "Balmer-line and template fits"))
            yield ClassicalBatch(rows, columns)

    return fn


def sdss_task(service, row: int, catalog_row):
    """Fetch (or read from the cache) the SDSS spectrum and cutout cube of one candidate.

    Each part that arrives is yielded on its own (the spectrum as a GridSpectrum, with its quality
    meta); the parts that failed are yielded together at the end as a "problems" detail, not
    raised, so an offline cache holding only the cube still shows the cube and a network that is
    gone is a message, never a traceback.
    """
    from bhb_viewer.services.builder import row_spectrum

    def fn(cancel: CancelToken, progress: ProgressCallback) -> Iterator[Detail]:
        ra, dec = float(catalog_row["ra"]), float(catalog_row["dec"])
        problems = []
        progress(ProgressEvent("sdss", 0, 2, f"spectrum of {catalog_row['id']}"))
        try:
            spectrum = row_spectrum(service, catalog_row)
            yield Detail(row, "spectrum", spectrum)
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
            yield Detail(row, "problems", "; ".join(problems))

    return fn


def detail_task(row: int, source: CandidateSource, holder: PredictorHolder | None, need_balmer: bool,
                need_explain: bool, maps: bool = True):
    """The Balmer fit and the model's explanation of one candidate (the one on show); without
    ``maps`` the explanation has the model's weights only (no saliency or attention map, no backward pass)."""

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
                explanation = predictor.explain_one(spectrum[0], spectrum[1], cube, maps=maps, mags=source.mags[row])
            yield Detail(row, "explain", explanation)

    return fn
