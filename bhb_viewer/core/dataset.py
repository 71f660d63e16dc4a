"""The on-disk data-set format shared by the simulator, the builders, training and scoring.

A data set is a directory::

    catalog.ecsv    one row per star: id, ra, dec, label (1 BHB, 0 non-BHB, -1 unknown), metadata
    spectra.npy     N×3522 float32 flux on the grid (1e-17 erg/s/cm²/Å), unscaled
    ivar.npy        N×3522 float32 inverse variance, 0 where masked
    cutouts.npy     N×5×S×S float32 u,g,r,i,z in nanomaggies, unscaled
    manifest.json   counts, grid, bands, per-file sha256, provenance, dtype

Arrays are opened memory-mapped so a 12,000-star set costs no RAM until read. Scaling belongs to
the model's checkpoint, never to the data set.

Two options for survey scale:

* 16-bit stores, half the size (half the I/O per star); readers see float32:
  ``dtype="scaled16"`` stores spectra and cutouts as 16-bit codes scaled per row
  (:class:`Scaled16Rows`; cutouts' codes linear in asinh) and ivar as float16: the shipped
  model's scores stay within 1e-3 of float32 (tested). ``dtype="float16"`` stores IEEE half
  floats: simpler for other programs, but its 11-bit mantissa (relative error ≤ 4.9e-4 per value)
  moved the first shipped lite model's P(BHB) by up to 7e-3 on 40 simulated stars. Either way
  values beyond float16's range are clipped to ±65504 and positive inverse variances below its
  smallest step kept positive, so no pixel changes from valid to masked.
* A **sharded** set is a directory whose manifest lists ``parts`` (each a data set of its own, e.g.
  one per job of a cluster array, see core.ingest.build_parallel); ``open_dataset`` returns one Dataset whose
  catalog is the parts' catalogs in order and whose arrays read across parts (:class:`ConcatRows`).

``read_rows`` reads rows with positioned reads (no memory map), so a stream over millions of stars
keeps no pages of the files resident.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import file_sha256, write_atomic
from bhb_viewer.core.grid import BANDS, NPIX, grid_dict

log = logging.getLogger(__name__)

FORMAT_NAME = "bhb-dataset"
FORMAT_VERSION = 1
ARRAY_FILES = ("spectra.npy", "ivar.npy", "cutouts.npy")
LABEL_BHB, LABEL_NON_BHB, LABEL_UNKNOWN = 1, 0, -1
CLASS_NAMES = ("non-BHB", "BHB")  # index = label
DTYPES = ("float32", "float16", "scaled16")
FLOAT16_MAX = float(np.finfo(np.float16).max)
FLOAT16_TINY = float(np.finfo(np.float16).smallest_subnormal)


@dataclass
class Dataset:
    path: Path
    catalog: Table
    spectra: np.ndarray | RowView
    ivar: np.ndarray | RowView
    cutouts: np.ndarray | RowView
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.catalog)

    @property
    def labels(self) -> np.ndarray:
        if "label" not in self.catalog.colnames:
            return np.full(len(self), LABEL_UNKNOWN, dtype=np.int64)
        return np.asarray(self.catalog["label"], dtype=np.int64)

    @property
    def manifest_hash(self) -> str:
        return manifest_hash(self.manifest)


def manifest_hash(manifest: dict[str, Any]) -> str:
    """A stable hash of a manifest, recorded by checkpoints to tie a model to its data."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _check_shapes(
    n: int, spectra: np.ndarray | RowView, ivar: np.ndarray | RowView, cutouts: np.ndarray | RowView
) -> None:
    if spectra.shape != (n, NPIX) or ivar.shape != (n, NPIX):
        raise ValueError(f"spectra/ivar must be {n}×{NPIX}, got {spectra.shape} and {ivar.shape}")
    if cutouts.ndim != 4 or cutouts.shape[:2] != (n, len(BANDS)) or cutouts.shape[2] != cutouts.shape[3]:
        raise ValueError(f"cutouts must be {n}×{len(BANDS)}×S×S, got {cutouts.shape}")


def write_dataset(
    path: str | os.PathLike,
    catalog: Table,
    spectra: np.ndarray | RowView,
    ivar: np.ndarray | RowView,
    cutouts: np.ndarray | RowView,
    provenance: dict[str, Any] | None = None,
    dtype: str = "float32",
) -> Path:
    """Write a data set directory; arrays go through a temporary name so a crash leaves no half file.

    ``dtype``: "float32" or "float16" (half the size; see the module doc)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    n = len(catalog)
    _check_shapes(n, spectra, ivar, cutouts)
    write_atomic(path / "catalog.ecsv", lambda tmp: catalog.write(tmp, format="ascii.ecsv", overwrite=True))
    files = ["catalog.ecsv"]
    for name, arr in zip(ARRAY_FILES, (spectra, ivar, cutouts), strict=False):
        files += _save(path, name, arr, dtype)
    labels = np.asarray(catalog["label"]) if "label" in catalog.colnames else np.full(n, LABEL_UNKNOWN)
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "count": n,
        "n_bhb": int(np.sum(labels == LABEL_BHB)),
        "n_non_bhb": int(np.sum(labels == LABEL_NON_BHB)),
        "grid": grid_dict(),
        "bands": list(BANDS),
        "cutout_size": int(cutouts.shape[-1]),
        "dtype": dtype,
        "units": {"spectra": "1e-17 erg s-1 cm-2 Angstrom-1", "cutouts": "nanomaggy"},
        "sha256": {name: file_sha256(path / name) for name in files},
        "provenance": provenance or {},
    }
    write_atomic(path / "manifest.json", lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
    return path


def _save(path: Path, name: str, arr: np.ndarray | RowView, dtype: str, chunk: int = 4096) -> list[str]:
    """Write a (possibly memory-mapped) array as ``dtype``, a block of rows at a time, each file under
    a temporary name first; returns the file names written (a scaled16 array adds ``NAME.scale.npy``)."""
    positive = name == "ivar.npy"
    stored = "float16" if dtype == "scaled16" and positive else dtype  # ivar: zeros must stay exactly zero
    scaled = stored == "scaled16"
    names = [name, name.replace(".npy", ".scale.npy")] if scaled else [name]

    def write(tmp: Path, scale_tmp: Path | None = None) -> None:
        out = np.lib.format.open_memmap(tmp, "w+", np.uint16 if scaled else np.dtype(stored), arr.shape)
        asinh = name == "cutouts.npy"  # see Scaled16Rows: codes linear in asinh(x / sky noise)
        # a scale file is asked for exactly when the array is stored scaled
        scale = None if scale_tmp is None else np.lib.format.open_memmap(
            scale_tmp, "w+", np.float32, (len(arr), 3 if asinh else 2)
        )
        for start in range(0, len(arr), chunk):
            block = np.asarray(arr[start : start + chunk], dtype=np.float32)
            if scale is not None:
                out[start : start + chunk], scale[start : start + chunk] = Scaled16Rows.encode(block, asinh)
            else:
                out[start : start + chunk] = to_float16(block, positive) if stored == "float16" else block
        out.flush()
        if scale is not None:
            scale.flush()

    if scaled:  # the scale file first: a codes file is never found without its scale
        scale_tmp = path / f".tmp-{names[1]}"
        write_atomic(path / names[0], lambda tmp: write(tmp, scale_tmp))
        os.replace(scale_tmp, path / names[1])
    else:
        write_atomic(path / name, write)
    return names


def to_float16(block: np.ndarray, positive: bool = False) -> np.ndarray:
    """float32 -> float16 without new infinities, and (``positive``) without positive values becoming 0."""
    finite = np.isfinite(block)
    clipped = np.where(finite, np.clip(block, -FLOAT16_MAX, FLOAT16_MAX), block)
    if positive:
        clipped = np.where(finite & (block > 0), np.maximum(clipped, FLOAT16_TINY), clipped)
    return clipped.astype(np.float16)


def open_dataset(path: str | os.PathLike, mmap: bool = True, verify: bool = True) -> Dataset:
    """Open a data set directory (arrays memory-mapped); a broken one raises BadInputError naming the file.

    ``verify`` checks every file against the sha256 the manifest recorded (about 1 s per GB), so
    a catalog or array replaced after the manifest was written (a hand edit, a partial copy, a
    build killed by an older version) is refused instead of pairing labels with the wrong stars.
    """
    path = Path(path)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise BadInputError(path, missing_manifest_problem(path) if path.is_dir() else "data set not found")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(manifest_file, f"manifest is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BadInputError(manifest_file, "manifest is not a JSON object")
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise BadInputError(
            manifest_file, f"unsupported data set format {manifest.get('format')!r} v{manifest.get('version')}"
        )
    if manifest.get("grid") != grid_dict():
        raise BadInputError(manifest_file, f"spectral grid {manifest.get('grid')} differs from {grid_dict()}")
    if "parts" in manifest:
        return _open_sharded(path, manifest, mmap, verify)
    if verify:
        verify_checksums(path, manifest)
    try:
        catalog = Table.read(path / "catalog.ecsv", format="ascii.ecsv")
    except Exception as exc:  # astropy raises many kinds for a broken table
        raise BadInputError(path / "catalog.ecsv", f"cannot read catalog ({exc})") from exc
    arrays: list[np.ndarray | RowView] = []
    for name in ARRAY_FILES:
        scale_name = name.replace(".npy", ".scale.npy")
        try:
            array = np.load(path / name, mmap_mode="r" if mmap else None, allow_pickle=False)
            if scale_name in manifest.get("sha256", {}):
                array = Scaled16Rows(array, np.load(path / scale_name, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise BadInputError(path / name, f"cannot read array ({exc})") from exc
        arrays.append(array)
    spectra, ivar, cutouts = arrays
    try:
        _check_shapes(len(catalog), spectra, ivar, cutouts)
    except ValueError as exc:
        raise BadInputError(path, str(exc)) from exc
    _check_labels(path / "catalog.ecsv", catalog)
    return Dataset(path, catalog, spectra, ivar, cutouts, manifest)


def verify_checksums(path: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists must have the sha256 it recorded; BadInputError naming the first that differs.

    (open_dataset's shape checks make sure the arrays it reads are there.)
    """
    recorded = manifest.get("sha256")
    if not isinstance(recorded, dict) or not recorded:
        raise BadInputError(path / "manifest.json", "manifest records no sha256 of the data-set files")
    if "catalog.ecsv" not in recorded:
        raise BadInputError(path / "manifest.json", "manifest records no sha256 for catalog.ecsv")
    for name in recorded:  # whatever files the writer listed (arrays, shards)
        file = path / name
        if Path(name).name != name:
            raise BadInputError(path / "manifest.json", f"sha256 entry {name!r} is not a file of the data set")
        if not file.is_file():
            raise BadInputError(file, "missing from the data set")
        if file_sha256(file) != recorded[name]:
            raise BadInputError(file, "does not match the sha256 in manifest.json: changed after the data set was "
                                      "written (edited, partly copied or a mix of two builds); rebuild it")


def _check_labels(path: Path, catalog: Table) -> None:
    if "label" not in catalog.colnames:
        return
    labels = np.ma.filled(np.ma.asarray(catalog["label"]), LABEL_UNKNOWN)
    bad = ~np.isin(labels, (LABEL_BHB, LABEL_NON_BHB, LABEL_UNKNOWN))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BadInputError(path, f"column 'label': {int(bad.sum())} rows hold a label other than 1 (BHB), 0 (non-BHB) "
                                  f"or -1 (unknown), e.g. {labels[i].item()!r} in row {i}")


def check_trainable(dataset: Dataset, fractions: tuple[float, float, float] = (0.7, 0.2, 0.1)) -> None:
    """Refuse, naming the data set, one too small to split: every class needs a star in each split
    with a non-zero fraction (train, validation, test), rounded as the stratified split rounds."""
    labels = dataset.labels
    counts = {name: int(np.sum(labels == cls)) for cls, name in enumerate(CLASS_NAMES)}
    short = [f"{n} {name}" for name, n in counts.items() if not _splits_filled(n, fractions)]
    if short:
        need = next(n for n in range(1, 10_000) if _splits_filled(n, fractions))
        split = "/".join(f"{f:g}" for f in fractions)
        raise BadInputError(dataset.path, f"too few labelled stars to train: {', '.join(short)}; "
                                          f"each class needs at least {need} for a {split} split")


def _splits_filled(n: int, fractions: tuple[float, float, float]) -> bool:
    n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)  # as ml.data.stratified_split
    return all(size >= 1 for size, f in zip((n_train, n_val, n - n_train - n_val), fractions, strict=True) if f > 0)


def is_dataset(path: str | os.PathLike) -> bool:
    return (Path(path) / "manifest.json").is_file()


def unfinished_files(path: str | os.PathLike) -> list[str]:
    """A data set's files in folder ``path`` that has no manifest.json: what a write killed part-way
    leaves (the manifest is written last). Empty for a finished set or an unrelated folder."""
    path = Path(path)
    if is_dataset(path) or not path.is_dir():
        return []
    found = [name for name in ("catalog.ecsv", *ARRAY_FILES) if (path / name).exists()]
    return found + sorted(p.name for p in path.glob("part-*-of-*") if p.is_dir())[:2]


def missing_manifest_problem(path: str | os.PathLike) -> str:
    """Why folder ``path`` (no manifest.json) is not a data set, naming an unfinished one as such."""
    found = unfinished_files(path)
    if found:
        return (f"unfinished data set: has {', '.join(found)} but no manifest.json (its writing was "
                "interrupted); write it again")
    return "not a data set: manifest.json is missing"


# -- reading rows -------------------------------------------------------------------------------------
def read_rows(array: np.ndarray | RowView, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` as float32, read with positioned reads where ``array`` is a memory-mapped .npy.

    Rows are read in file order (runs of consecutive rows in one read) and returned in the order
    asked; reading this way leaves no file pages mapped into the process, so a stream's resident
    memory does not grow with the number of rows it has read (a memmap slice would).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(array, RowView):
        return array.take(rows)
    return _pread_rows(array, rows).astype(np.float32, copy=False)


def _pread_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` in its own dtype; positioned reads for a memory-mapped .npy, else fancy indexing."""
    if not isinstance(array, np.memmap) or array.filename is None or not array.flags.c_contiguous:
        return np.asarray(array[rows])
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), *array.shape[1:]), dtype=array.dtype)
    row_bytes = array.dtype.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    sorted_rows = rows[order]
    if sorted_rows.size and (sorted_rows[0] < 0 or sorted_rows[-1] >= len(array)):
        raise IndexError(f"row out of range for {len(array)} rows")
    with open(array.filename, "rb", buffering=0) as f:
        for run in np.split(np.arange(len(rows)), np.flatnonzero(np.diff(sorted_rows) != 1) + 1):
            if len(run):
                first, count = int(sorted_rows[run[0]]), len(run)
                buf = os.pread(f.fileno(), count * row_bytes, array.offset + first * row_bytes)
                out[order[run]] = np.frombuffer(buf, dtype=array.dtype).reshape(count, *array.shape[1:])
    return out


class RowView:
    """An array-like over stored rows that decodes them to float32 as they are read.

    Supports what readers of a Dataset do: ``len``, ``shape``, ``dtype``, ``ndim``, indexing by an
    int, a slice or an array of row numbers (optionally followed by more indices), and
    ``np.asarray``. Subclasses implement ``take(rows)``.
    """

    dtype = np.dtype(np.float32)
    shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, key):
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(rows, (int, np.integer)):
            return self.take(np.array([rows]))[(0, *rest)]
        if isinstance(rows, slice):
            out = self.take(np.arange(len(self))[rows])
        else:
            rows = np.asarray(rows)
            out = self.take(np.flatnonzero(rows) if rows.dtype == bool else rows)
        return out[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None):
        out = self.take(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype)


class ConcatRows(RowView):
    """Arrays of several parts seen as one along the first axis (a sharded data set's arrays)."""

    def __init__(self, parts: list[np.ndarray | RowView]) -> None:
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])
        self.shape = (int(self.offsets[-1]), *parts[0].shape[1:])

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        rows = np.where(rows < 0, rows + len(self), rows)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"row out of range for {len(self)} rows")
        part_of = np.searchsorted(self.offsets, rows, side="right") - 1
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        for k in np.unique(part_of):
            at = np.flatnonzero(part_of == k)
            out[at] = read_rows(self.parts[k], rows[at] - self.offsets[k])
        return out


class Scaled16Rows(RowView):
    """Rows stored as 16-bit codes with a per-row offset and step (``dtype="scaled16"``).

    Spectra: each is mapped linearly onto 0…65534 between its own finite minimum and maximum
    (65535 marks a non-finite value); the step is 1/65534 of the row's range, 30× finer than
    float16 near the top, and a spectrum's min–max scaling sees it change by ≤ 7.6e-6.

    Cutouts: each cube's codes are linear in asinh(x / s), s its robust sky noise (scale file of
    three columns: offset, step, s). A linear code's step follows the brightest pixel in the stamp
    (often a neighbour), which is coarse near the sky level, where the ratio-and-asinh image scaling
    is most sensitive: linear codes moved the shipped model's P(BHB) by up to 3.7e-3 on 200
    simulated stars, asinh codes by 3.2e-4. Two-column scale files (written before) read as linear.
    """

    NAN_CODE = 65535

    def __init__(self, codes: np.ndarray, scale: np.ndarray) -> None:
        self.codes, self.scale = codes, scale
        self.shape = codes.shape

    def take(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        codes = _pread_rows(self.codes, rows)
        scale = np.asarray(self.scale[rows], dtype=np.float32).reshape(len(rows), -1, *([1] * (codes.ndim - 1)))
        out = scale[:, 0] + codes.astype(np.float32) * scale[:, 1]
        if scale.shape[1] == 3:
            out = scale[:, 2] * np.sinh(out)
        out[codes == self.NAN_CODE] = np.nan
        return out

    @classmethod
    def encode(cls, block: np.ndarray, asinh: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(codes, per row [offset, step] or, with ``asinh``, [offset, step, softening]) of a float32 block."""
        flat = block.reshape(len(block), -1)
        finite = np.isfinite(flat)
        if asinh:
            soft = _sky_noise(flat)
            flat = np.arcsinh(flat / soft[:, None])
        lo = np.where(finite, flat, np.inf).min(axis=1)
        hi = np.where(finite, flat, -np.inf).max(axis=1)
        lo = np.where(np.isfinite(lo), lo, 0.0)
        step = np.where(np.isfinite(hi) & (hi > lo), (hi - lo) / (cls.NAN_CODE - 1), 1.0)
        codes = np.rint((np.where(finite, flat, lo[:, None]) - lo[:, None]) / step[:, None])
        codes = np.where(finite, np.clip(codes, 0, cls.NAN_CODE - 1), cls.NAN_CODE).astype(np.uint16)
        columns = [lo, step, soft] if asinh else [lo, step]
        return codes.reshape(block.shape), np.stack(columns, axis=1).astype(np.float32)


def _sky_noise(flat: np.ndarray) -> np.ndarray:
    """Per row, 1.4826 × the median absolute deviation of every 8th value (non-finite ignored): the
    sky noise of a stamp, where most pixels are sky; a positive floor where a row is flat or empty."""
    sample = flat[:, ::8]
    sample = np.where(np.isfinite(sample), sample, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        median = np.nanmedian(sample, axis=1, keepdims=True)
        mad = np.nanmedian(np.abs(sample - median), axis=1)
        top = np.nanmax(np.abs(sample), axis=1)
    floor = np.where(np.isfinite(top) & (top > 0), top * 1e-6, 1.0)
    return np.where(np.isfinite(mad) & (1.4826 * mad > floor), 1.4826 * mad, floor).astype(np.float32)


# -- sharded data sets --------------------------------------------------------------------------------
def part_name(k: int, n: int) -> str:
    """The folder of part ``k`` (0-based) of ``n``: every job of an array names it alike."""
    return f"part-{k:04d}-of-{n:04d}"


def write_sharded_manifest(path: str | os.PathLike, n_parts: int, provenance: dict[str, Any] | None = None) -> Path:
    """The top manifest of a set in ``n_parts`` parts. Every shard job writes the same bytes
    (atomically), so jobs need no coordination; a reader finds which parts are still missing."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "grid": grid_dict(), "bands": list(BANDS),
                "parts": [part_name(k, n_parts) for k in range(n_parts)], "provenance": provenance or {}}
    text = json.dumps(manifest, indent=2)
    write_atomic(path / "manifest.json", lambda tmp: tmp.write_text(text))
    return path


def _open_sharded(path: Path, manifest: dict[str, Any], mmap: bool, verify: bool) -> Dataset:
    parts = manifest["parts"]
    if (
        not isinstance(parts, list)
        or not parts
        or not all(isinstance(p, str) and "/" not in p and p not in (".", "..") for p in parts)
    ):
        raise BadInputError(path / "manifest.json", "'parts' must be a non-empty list of folder names")
    missing = [p for p in parts if not is_dataset(path / p)]
    if missing:
        raise BadInputError(path, f"{len(missing)} of {len(parts)} parts not built yet: {', '.join(missing[:5])}")
    opened = [open_dataset(path / p, mmap, verify) for p in parts]
    sizes = {d.cutouts.shape[-1] for d in opened}
    if len(sizes) > 1:
        raise BadInputError(path, f"parts have different cutout sizes {sorted(sizes)}")
    from astropy.table import vstack

    catalog = vstack([d.catalog for d in opened], metadata_conflicts="silent")
    merged = {
        **manifest,
        "count": len(catalog),
        "n_bhb": sum(d.manifest["n_bhb"] for d in opened),
        "n_non_bhb": sum(d.manifest["n_non_bhb"] for d in opened),
        "cutout_size": sizes.pop(),
        "dtype": opened[0].manifest.get("dtype", "float32"),
        "part_hashes": [d.manifest_hash for d in opened],
    }
    spectra, ivar, cutouts = (ConcatRows([getattr(d, name) for d in opened]) for name in ("spectra", "ivar", "cutouts"))
    return Dataset(path, catalog, spectra, ivar, cutouts, merged)
