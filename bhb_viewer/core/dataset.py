"""The on-disk data-set format shared by the simulator, the builders, training and scoring.

A data set is a directory::

    catalog.ecsv    one row per star: id, ra, dec, label (1 BHB, 0 non-BHB, -1 unknown), metadata
    spectra.npy     N×3522 float32 flux on the grid (1e-17 erg/s/cm²/Å), unscaled
    ivar.npy        N×3522 float32 inverse variance, 0 where masked
    cutouts.npy     N×5×S×S float32 u,g,r,i,z in nanomaggies, unscaled
    manifest.json   counts, grid, bands, per-file sha256, provenance

Arrays are opened memory-mapped so a 12,000-star set costs no RAM until read. Scaling belongs to
the model's checkpoint, never to the data set.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import file_sha256, write_atomic
from bhb_viewer.core.grid import BANDS, NPIX, grid_dict

FORMAT_NAME = "bhb-dataset"
FORMAT_VERSION = 1
ARRAY_FILES = ("spectra.npy", "ivar.npy", "cutouts.npy")
LABEL_BHB, LABEL_NON_BHB, LABEL_UNKNOWN = 1, 0, -1
CLASS_NAMES = ("non-BHB", "BHB")  # index = label


@dataclass
class Dataset:
    path: Path
    catalog: Table
    spectra: np.ndarray
    ivar: np.ndarray
    cutouts: np.ndarray
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


def _check_shapes(n: int, spectra: np.ndarray, ivar: np.ndarray, cutouts: np.ndarray) -> None:
    if spectra.shape != (n, NPIX) or ivar.shape != (n, NPIX):
        raise ValueError(f"spectra/ivar must be {n}×{NPIX}, got {spectra.shape} and {ivar.shape}")
    if cutouts.ndim != 4 or cutouts.shape[:2] != (n, len(BANDS)) or cutouts.shape[2] != cutouts.shape[3]:
        raise ValueError(f"cutouts must be {n}×{len(BANDS)}×S×S, got {cutouts.shape}")


def write_dataset(
    path: str | os.PathLike,
    catalog: Table,
    spectra: np.ndarray,
    ivar: np.ndarray,
    cutouts: np.ndarray,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write a data set directory; arrays go through a temporary name so a crash leaves no half file."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    n = len(catalog)
    _check_shapes(n, spectra, ivar, cutouts)
    write_atomic(path / "catalog.ecsv", lambda tmp: catalog.write(tmp, format="ascii.ecsv", overwrite=True))
    for name, arr in zip(ARRAY_FILES, (spectra, ivar, cutouts)):
        write_atomic(path / name, lambda tmp: np.save(tmp, np.ascontiguousarray(arr, dtype=np.float32)))
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
        "units": {"spectra": "1e-17 erg s-1 cm-2 Angstrom-1", "cutouts": "nanomaggy"},
        "sha256": {name: file_sha256(path / name) for name in ("catalog.ecsv", *ARRAY_FILES)},
        "provenance": provenance or {},
    }
    write_atomic(path / "manifest.json", lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
    return path


def open_dataset(path: str | os.PathLike, mmap: bool = True, verify: bool = True) -> Dataset:
    """Open a data set directory (arrays memory-mapped); a broken one raises BadInputError naming the file.

    ``verify`` checks every file against the sha256 the manifest recorded (about 1 s per GB), so
    a catalog or array replaced after the manifest was written (a hand edit, a partial copy, a
    build killed by an older version) is refused instead of pairing labels with the wrong stars.
    """
    path = Path(path)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise BadInputError(path, "not a data set: manifest.json is missing")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(manifest_file, f"manifest is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BadInputError(manifest_file, "manifest is not a JSON object")
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise BadInputError(manifest_file, f"unsupported data set format {manifest.get('format')!r} v{manifest.get('version')}")
    if manifest.get("grid") != grid_dict():
        raise BadInputError(manifest_file, f"spectral grid {manifest.get('grid')} differs from {grid_dict()}")
    if verify:
        verify_checksums(path, manifest)
    try:
        catalog = Table.read(path / "catalog.ecsv", format="ascii.ecsv")
    except Exception as exc:  # astropy raises many kinds for a broken table
        raise BadInputError(path / "catalog.ecsv", f"cannot read catalog ({exc})") from exc
    arrays = []
    for name in ARRAY_FILES:
        try:
            arrays.append(np.load(path / name, mmap_mode="r" if mmap else None, allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise BadInputError(path / name, f"cannot read array ({exc})") from exc
    try:
        _check_shapes(len(catalog), *arrays)
    except ValueError as exc:
        raise BadInputError(path, str(exc)) from exc
    _check_labels(path / "catalog.ecsv", catalog)
    return Dataset(path, catalog, *arrays, manifest)


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
