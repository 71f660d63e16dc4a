"""Streaming scoring: ``bhb score`` over any number of stars in constant memory, alone or under torchrun.

The output rows are cut into chunks of ``batch_size``. A torch DataLoader (``workers`` processes)
reads each chunk's stars from the data set with positioned reads, preprocesses them with the
checkpoint's own preprocessing and fits their Balmer lines (core.science.balmer); the main process runs the
model on the batch (pinned memory, non-blocking copies, bf16 autocast on CUDA) and appends the rows
to the output (core.exports.table_stream). Only a few chunks are ever in memory.

Every per-star array the model's ``Prediction`` carries becomes a column of the same name
(``p_bhb`` and whatever else the Predictor adds); ``segment_weights`` and ``band_weights`` become
``seg_w1..seg_w7`` and ``w_u..w_z``; multi-dimensional explanations are not written. The output
rows' catalogue magnitudes (``mags``) go with their stars to a model that reads colours.

Under torchrun every rank scores a contiguous block of chunks into a part (one memory-mapped
.npy per column, next to the output); rank 0 then writes the one output table in row order. The
chunks and their batches are the single-process run's, so the result is that run's; its table
metadata records ``world_size``. The output folder must be one all ranks see (as the data set).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from astropy.table import MaskedColumn, Table
from torch.utils.data import DataLoader

from bhb_viewer import __version__
from bhb_viewer.core.dataset import Dataset, read_rows
from bhb_viewer.core.exports.table_stream import open_table_writer
from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.progress import ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.readers.catalog_mags import filled_bands
from bhb_viewer.core.science.balmer import measure_arrays
from bhb_viewer.core.science.metrics import report_from_confusion
from bhb_viewer.core.science.photometry import fill_from_spectra
from bhb_viewer.core.science.stellar_fit import FIT_COLUMNS
from bhb_viewer.core.science.trust import TrainingSky, flags, is_ood, measure
from bhb_viewer.ml import distributed
from bhb_viewer.ml.diagnostics import balmer_columns
from bhb_viewer.ml.distributed import Ranks
from bhb_viewer.ml.inference import prepare_inputs
from bhb_viewer.ml.photometry import no_magnitudes

if TYPE_CHECKING:
    from bhb_viewer.ml.baselines import SpectralBaseline

log = logging.getLogger(__name__)

CLASSICAL_COLUMNS = ("d02", "fm", "b_hg", "c_hg", "classical_bhb")
SECOND_OPINION_COLUMNS = (*FIT_COLUMNS, "box_bhb", "balmer_reason", "flags")  # after the classical ones
REASON_DTYPE = "<U96"
WIDE_COLUMNS = {"segment_weights": [f"seg_w{i + 1}" for i in range(7)], "band_weights": [f"w_{b}" for b in BANDS]}
FOUND = "_found"  # part column: the output row is in the data set


# --------------------------------------------------------------------------- reading
class ChunkSource(torch.utils.data.Dataset):
    """Chunk ``k``: output rows ``k·size … (k+1)·size``, their stars read, preprocessed and (with
    ``classical``) their Balmer diagnostics measured. Runs in the loader's worker processes.

    ``mags`` (one row per output row, ``core.readers.catalog_mags``'s (N, 15)) are the candidates' catalogue
    magnitudes, for a model that reads colours. ``classical`` measures the Balmer lines (core.science.balmer);
    ``second_opinion`` fits the engine templates (core.science.stellar_fit) and gathers what the trust flags
    need (core.science.trust), with the Balmer fit's success where ``classical`` measured it.
    """

    def __init__(self, data: Dataset, rows: np.ndarray, size: int, preprocessor: Any, modalities: tuple[str, ...],
                 classical: bool = True, channels_last: bool = False, mags: np.ndarray | None = None,
                 second_opinion: bool = True) -> None:
        self.data, self.rows, self.size = data, np.asarray(rows, dtype=np.int64), size
        self.preprocessor, self.modalities = preprocessor, modalities
        self.classical, self.channels_last = classical, channels_last
        self.mags = mags
        self.second_opinion = second_opinion

    def __len__(self) -> int:
        return -(-len(self.rows) // self.size)

    def bounds(self, k: int) -> tuple[int, int]:
        return k * self.size, min(len(self.rows), (k + 1) * self.size)

    def __getitem__(self, k: int) -> dict[str, Any]:
        start, stop = self.bounds(k)
        found = self.rows[start:stop] >= 0
        take = self.rows[start:stop][found]
        item: dict[str, Any] = {"start": start, "stop": stop, "found": found}
        flux = ivar = cube = None
        if "spectrum" in self.modalities or self.classical or self.second_opinion:
            flux, ivar = read_rows(self.data.spectra, take), read_rows(self.data.ivar, take)
        if "image" in self.modalities:
            cube = read_rows(self.data.cutouts, take)
        mags = None if self.mags is None else self.mags[start:stop][found]
        if self.preprocessor.photometry is not None and flux is not None:
            mags, item["synthesized"] = _with_synthesised(mags, flux, ivar)
        cols = measure_arrays(flux, ivar) if self.classical else None  # the lines fitted once, for both uses
        balmer = balmer_columns(cols) if cols is not None and self.preprocessor.diagnostics is not None else None
        prepared = prepare_inputs(self.preprocessor, self.modalities, flux if "spectrum" in self.modalities else None,
                                  ivar, cube, mags, balmer=balmer)
        if self.channels_last and prepared.image is not None:
            prepared.image = prepared.image.contiguous(memory_format=torch.channels_last)
        item["inputs"] = prepared
        if cols is not None:
            item["classical"] = {k: np.asarray(cols[k], dtype=bool if k == "classical_bhb" else np.float64)
                                 for k in CLASSICAL_COLUMNS}
            item["classical"]["balmer_reason"] = np.asarray(cols["balmer_reason"], dtype=REASON_DTYPE)
        if self.second_opinion:
            assert flux is not None and ivar is not None  # read above for the second opinion
            fit, quantities = measure(flux, ivar, mags)
            item["trust"] = {**fit, "balmer_ok": np.asarray(cols["balmer_ok"], bool)} if cols is not None else fit
            item["quantities"] = quantities
        return item


def _with_synthesised(
    mags: np.ndarray | None, flux: np.ndarray, ivar: np.ndarray | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The rows' magnitudes with the bands they lack synthesised from their spectra where the spectrum
    covers the filter (core.science.photometry), and a ``mags_synthesized`` column naming those bands."""
    given = no_magnitudes(len(flux)) if mags is None else np.asarray(mags, dtype=np.float64)
    filled = fill_from_spectra(given, flux, ivar)
    return filled, {"mags_synthesized": filled_bands(given, filled)}


def _as_is(item):
    return item


def _one_blas_thread(_worker_id: int) -> None:
    """A loader worker's numpy BLAS on one thread, as torch already is there: the template fit's matrix
    products would otherwise start a second thread pool beside the model's (measured: the rate halves)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


# --------------------------------------------------------------------------- scoring
def per_star_columns(prediction: Any) -> dict[str, np.ndarray]:
    """The per-star columns of a batch result: every 1-D array field of its length under its own
    name, and the segment / band weights spread over named columns."""
    n = prediction.stop - prediction.start
    cols: dict[str, np.ndarray] = {}
    for f in dataclasses.fields(prediction):
        value = getattr(prediction, f.name)
        if not isinstance(value, np.ndarray) or len(value) != n:
            continue
        if value.ndim == 1:
            cols[f.name] = value.astype(np.float64) if value.dtype.kind == "f" else value
        elif f.name in WIDE_COLUMNS and value.shape[1:] == (len(WIDE_COLUMNS[f.name]),):
            cols.update({name: value[:, j].astype(np.float64) for j, name in enumerate(WIDE_COLUMNS[f.name])})
    return cols


class Scorer:
    """A checkpoint ready to score prepared batches: a network through the Predictor, or a baseline."""

    def __init__(self, model_dir: str | Path, device: torch.device, explain: bool | Literal["weights"] = False,
                 compile_model: bool = False) -> None:
        from bhb_viewer.ml.checkpoint import read_json
        from bhb_viewer.ml.preprocess import Preprocessor

        config_file = Path(model_dir) / "config.json"
        config = read_json(config_file) if config_file.is_file() else {}
        self.device = device
        self.explain = explain
        self.sky = TrainingSky.load(model_dir)  # None: a checkpoint from before training-sky records
        if config.get("kind") == "baseline":
            from bhb_viewer.ml.baselines import SpectralBaseline

            self.baseline: SpectralBaseline | None = SpectralBaseline.load(model_dir)
            self.preprocessor = Preprocessor.from_config(config["preprocess"])
            self.modalities: tuple[str, ...] = ("spectrum",)
            self.name = config["model"]
            self.version = f"{config['model']}-{config.get('size', '')}@{config.get('dataset_hash', '')[:10]}"
            self.channels_last = False
            return
        from bhb_viewer.ml.inference import Predictor

        self.baseline = None
        self.predictor = Predictor(model_dir, device=str(device))  # checks config.json before building anything
        self.preprocessor, self.modalities = self.predictor.preprocessor, self.predictor.modalities
        self.name, self.version = self.predictor.model_name, self.predictor.model_version
        self.channels_last = device.type == "cuda" and "image" in self.modalities
        if self.channels_last:
            self.predictor.model.to(memory_format=torch.channels_last)
        self._compile = compile_model

    def compile(self) -> None:
        """torch.compile the network (after the schema probe, so the probe's batch of one compiles nothing)."""
        if self.baseline is None and self._compile:
            # torch's stub types the result as a bare callable; for a module it is an OptimizedModule that
            # forwards attribute access (modality_logits, arch) to the model it wraps
            self.predictor.model = torch.compile(self.predictor.model)  # type: ignore[assignment]

    def __call__(self, item: dict[str, Any]) -> dict[str, np.ndarray]:
        if self.baseline is not None:  # a spectrum model: its score is the spectrum's
            p = np.asarray(self.baseline.predict_proba(item["inputs"].spectrum.numpy()), dtype=np.float64)
            return {"p_bhb": p, "p_bhb_spectrum": p, "score_from": np.full(len(p), "spectrum")}
        return per_star_columns(self.predictor.predict_prepared(item["inputs"], item["start"],
                                                                explain=self.explain))


# --------------------------------------------------------------------------- writing
@dataclass
class Column:
    """One computed column's layout: what an empty chunk (no star found) is filled with."""

    dtype: np.dtype
    fill: Any


def _fill_for(dtype: np.dtype) -> Any:
    return np.nan if dtype.kind == "f" else (False if dtype.kind == "b" else ("" if dtype.kind == "U" else 0))


def chunk_table(catalog: Table, start: int, stop: int, found: np.ndarray, computed: dict[str, np.ndarray],
                schema: dict[str, Column], name: str, version: str) -> Table:
    """Output rows ``start:stop``: the catalog's columns, then p_bhb, model, model_version, the other
    model columns, the classical ones, the physical fit and the flags; rows not in the data set are masked."""
    table = catalog[start:stop]

    def column(key: str) -> MaskedColumn:
        spec = schema[key]
        full = np.full(stop - start, spec.fill, dtype=spec.dtype)
        if key in computed:
            full[found] = computed[key]
        return MaskedColumn(full, mask=~found)

    last = (*CLASSICAL_COLUMNS, *SECOND_OPINION_COLUMNS)
    order = ["p_bhb"] + [k for k in schema if k not in ("p_bhb", *last)]
    table["p_bhb"] = column("p_bhb")
    table["model"] = np.full(stop - start, name)
    table["model_version"] = np.full(stop - start, version)
    for key in order[1:] + [k for k in last if k in schema]:
        table[key] = column(key)
    return table


class _Parts:
    """This rank's computed columns for its block of output rows, as memory-mapped .npy files."""

    def __init__(self, folder: Path, rank: int, first: int, n: int, schema: dict[str, Column]) -> None:
        self.folder = folder / f"rank-{rank:05d}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.first = first
        self.arrays = {key: np.lib.format.open_memmap(self.folder / f"{key}.npy", "w+", spec.dtype, (n,))
                       for key, spec in {**schema, FOUND: Column(np.dtype(bool), False)}.items()}

    def put(self, start: int, stop: int, found: np.ndarray, computed: dict[str, np.ndarray]) -> None:
        at = slice(start - self.first, stop - self.first)
        self.arrays[FOUND][at] = found
        for key, values in computed.items():
            self.arrays[key][at][found] = values

    def close(self) -> None:
        for array in self.arrays.values():
            array.flush()
        self.arrays.clear()


def _read_part(folder: Path, keys: list[str], at: slice) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    arrays = {key: np.load(folder / f"{key}.npy", mmap_mode="r") for key in [FOUND, *keys]}
    found = np.asarray(arrays.pop(FOUND)[at])
    return found, {key: np.asarray(a[at])[found] for key, a in arrays.items()}


# --------------------------------------------------------------------------- the stream
@dataclass
class ScoreResult:
    out: Path | None  # None on ranks other than 0
    n: int
    scored: int
    confusion: dict[str, np.ndarray]  # "model" / "classical" / "box": 2×2 counts over labelled rows
    name: str
    version: str
    world_size: int
    flagged_ood: int = 0  # scores whose flags say out of distribution (core.science.trust.is_ood)
    training_sky: bool = False  # whether the checkpoint had a training-sky record for the flags

    def reports(self) -> dict[str, dict]:
        """Macro P/R/F1 of the model and of the classical cuts over the labelled rows (empty without labels)."""
        if not self.confusion["model"].sum():
            return {}
        return {key: report_from_confusion(cm) for key, cm in self.confusion.items() if cm.sum()}


def score_stream(
    catalog: Table,
    rows: np.ndarray,
    labels: np.ndarray,
    data: Dataset,
    scorer: Scorer,
    out: str | Path,
    *,
    batch_size: int = 256,
    workers: int = 0,
    threshold: float = 0.5,
    ranks: Ranks | None = None,
    progress: ProgressCallback = no_progress,
    meta: dict[str, Any] | None = None,
    mags: np.ndarray | None = None,
    second_opinion: bool = True,
) -> ScoreResult:
    """Score output rows (``rows``: data-set row per catalog row, -1 where absent) into ``out``.

    ``labels`` per output row (-1 unknown) feed the confusion counts; ``mags`` per output row (N, 15)
    are the catalogue magnitudes a model with photometry reads; ``second_opinion`` False leaves out
    the template fit and the trust flags (for speed comparisons). Under several ranks every rank must
    call this with the same arguments; rank 0 writes ``out``.
    """
    out = Path(out)
    ranks = ranks or Ranks()
    source = ChunkSource(
        data, rows, batch_size, scorer.preprocessor, scorer.modalities, channels_last=scorer.channels_last, mags=mags,
        second_opinion=second_opinion,
    )
    schema = _probe(source, scorer, rows)
    scorer.compile()
    mine = distributed.block(len(source), ranks)
    first, last = source.bounds(mine.start)[0] if len(mine) else 0, source.bounds(mine.stop - 1)[1] if len(mine) else 0
    parts_dir = out.with_name(f".{out.name}.parts")
    meta = {"model": scorer.name, "model_version": scorer.version, "world_size": ranks.world_size,
            "software": f"bhb_viewer {__version__}", **(meta or {})}
    sink: Any = (_Parts(parts_dir, ranks.rank, first, last - first, schema) if ranks.distributed
                 else open_table_writer(out, meta))
    confusion = np.zeros((3, 2, 2), dtype=np.int64)  # [model / classical / box, true, predicted]
    scored = flagged = 0
    loader = DataLoader(source, batch_size=None, sampler=list(mine), num_workers=workers, collate_fn=_as_is,
                        pin_memory=scorer.device.type == "cuda", persistent_workers=False,
                        worker_init_fn=_one_blas_thread if workers else None)
    try:
        for item in loader:
            start, stop, found = item["start"], item["stop"], item["found"]
            computed = _columns(scorer, item)
            confusion += _confusion(labels[start:stop][found], computed, threshold)
            scored += int(found.sum())
            flagged += int(is_ood(computed["flags"]).sum()) if "flags" in computed else 0
            if ranks.distributed:
                sink.put(start, stop, found, computed)
            else:
                sink.write(chunk_table(catalog, start, stop, found, computed, schema, scorer.name, scorer.version))
            progress(ProgressEvent("score", stop - first, last - first, f"{scorer.name} on {scorer.device}"))
        sink.close()
    except BaseException:
        if not ranks.distributed:
            sink.abort()
        raise
    confusion = distributed.all_sum(confusion)
    scored, flagged = (int(v) for v in distributed.all_sum(np.array([scored, flagged])))
    result_out = out if ranks.main else None
    if ranks.distributed:
        distributed.barrier()  # every part is complete
        if ranks.main:
            _merge_parts(parts_dir, source, catalog, schema, scorer, ranks, out, meta, progress)
    return ScoreResult(
        result_out, len(rows), scored, {"model": confusion[0], "classical": confusion[1], "box": confusion[2]},
        scorer.name, scorer.version, ranks.world_size, flagged, scorer.sky is not None,
    )


def _probe(source: ChunkSource, scorer: Scorer, rows: np.ndarray) -> dict[str, Column]:
    """The computed columns' names and types, from one star, so every rank and every chunk (even one
    without a star in the data set) writes the same layout."""
    first = int(np.flatnonzero(rows >= 0)[0])
    one = ChunkSource(source.data, rows[first : first + 1], 1, source.preprocessor, source.modalities,
                      source.classical, source.channels_last,
                      None if source.mags is None else source.mags[first : first + 1], source.second_opinion)[0]
    return {key: Column(values.dtype, _fill_for(values.dtype)) for key, values in _columns(scorer, one).items()}


def _columns(scorer: Scorer, item: dict[str, Any]) -> dict[str, np.ndarray]:
    """A chunk's computed columns: the model's, the classical diagnostics, synthesised bands, the
    physical fit and the trust flags (core.science.trust, against the checkpoint's training sky)."""
    computed = {
        **(scorer(item) if item["found"].any() else {}),
        **item.get("classical", {}),
        **item.get("synthesized", {}),
    }
    if "trust" in item:
        trust = item["trust"]
        computed.update({key: trust[key] for key in (*FIT_COLUMNS, "box_bhb")})
        computed["flags"] = flags({**trust, **computed}, scorer.sky, item["quantities"])
    return computed


def _confusion(labels: np.ndarray, computed: dict[str, np.ndarray], threshold: float) -> np.ndarray:
    known = labels >= 0
    out = np.zeros((3, 2, 2), dtype=np.int64)
    calls = {0: computed["p_bhb"] >= threshold if "p_bhb" in computed else None,
             1: computed.get("classical_bhb"), 2: computed.get("box_bhb")}
    for k, call in calls.items():
        if call is not None:
            cells = 2 * labels[known] + np.asarray(call)[known].astype(np.int64)
            out[k] = np.bincount(cells, minlength=4).reshape(2, 2)
    return out


def _merge_parts(parts_dir: Path, source: ChunkSource, catalog: Table, schema: dict[str, Column], scorer: Scorer,
                 ranks: Ranks, out: Path, meta: dict[str, Any], progress: ProgressCallback) -> None:
    """Rank 0: the ranks' parts into one table, in row order, a chunk at a time."""
    keys = list(schema)
    n_chunks = len(source)
    with open_table_writer(out, meta) as writer:
        for rank in range(ranks.world_size):
            block = distributed.block(n_chunks, Ranks(rank, ranks.world_size))
            if not len(block):
                continue
            first = source.bounds(block.start)[0]
            for k in block:
                start, stop = source.bounds(k)
                found, computed = _read_part(parts_dir / f"rank-{rank:05d}", keys, slice(start - first, stop - first))
                writer.write(chunk_table(catalog, start, stop, found, computed, schema, scorer.name, scorer.version))
                progress(ProgressEvent("write", stop, len(catalog), str(out)))
    shutil.rmtree(parts_dir, ignore_errors=True)

