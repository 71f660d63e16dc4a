"""Build a data set (see core.dataset) from files on disk, and the assembly loop every builder shares.

``assemble`` walks a catalog, asks a loader for each star's spectrum and cutout cube, skips a star
whose loader raises :class:`BadInputError` (keeping the reason for the manifest's rejection log)
and streams the kept stars into memory-mapped arrays, so a 12,000-star set never sits in RAM. The
SDSS builder (services.builder) uses it with loaders that download; ``build_from_files`` uses it
with loaders that look files up on disk:

* spectra: a catalog column naming the file (``spectrum``, ``spec_file``, ``FileName``...), else
  the row's plate/mjd/fiber matched against ``spec-PLATE-MJD-FIBER.fits``,
  ``spSpec-MJD-PLATE-FIBER.fit`` or ``spPlate-PLATE-MJD.fits`` names under the spectra folder;
* cutouts: a catalog column naming a cube file (``cutout``, ``cube``) or five naming per-band
  images (``u_file`` … ``z_file``, core.readers.named_files), else the per-band frames or stamps with WCS
  under the images folder that contain the star (core.readers.cutouts); a star nothing names or covers
  is kept spectrum-only (zero cube, ``has_cutout`` False, listed in provenance.spectrum_only).

Names in the catalog are relative to the catalog's folder (then the folder given).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Row, Table
from scipy.spatial import cKDTree

from bhb_viewer.core.dataset import LABEL_BHB, LABEL_NON_BHB, LABEL_UNKNOWN, write_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import OutputError, allocate, check_free_space, output_error, staged_directory
from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE, NPIX
from bhb_viewer.core.progress import Cancelled, CancelToken, ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.readers import cutouts
from bhb_viewer.core.readers.candidates import pmf_id, read_candidates, spec_name
from bhb_viewer.core.readers.fitsfile import open_fits
from bhb_viewer.core.readers.named_files import NoCutout, named_band_files
from bhb_viewer.core.readers.named_files import resolve as _resolve
from bhb_viewer.core.readers.named_files import row_text as _row_value
from bhb_viewer.core.readers.quality import add_quality_columns, set_quality
from bhb_viewer.core.readers.spectra import GridSpectrum, SpectrumBatch, read_spectra

log = logging.getLogger(__name__)
SPACE_MARGIN = 16 * 2**20  # bytes kept free beyond a build's estimate (catalog, manifest, file-system overhead)

# a loader turns one catalog row into (flux, ivar, cube); BadInputError means "skip this star"
Loader = Callable[[Row], tuple[np.ndarray, np.ndarray, np.ndarray]]

SPECTRUM_COLUMNS = ("spectrum", "spectrum_file", "spec_file", "specfile", "filename", "file_name", "file")
CUBE_COLUMNS = ("cutout", "cube", "cutout_file", "cube_file")
LABEL_WORDS = {
    "bhb": LABEL_BHB, "1": LABEL_BHB, "true": LABEL_BHB, "yes": LABEL_BHB,
    "non-bhb": LABEL_NON_BHB, "nonbhb": LABEL_NON_BHB, "non_bhb": LABEL_NON_BHB, "bss": LABEL_NON_BHB,
    "bs": LABEL_NON_BHB, "ms": LABEL_NON_BHB, "ms-a": LABEL_NON_BHB, "0": LABEL_NON_BHB, "false": LABEL_NON_BHB,
    "no": LABEL_NON_BHB, "": LABEL_UNKNOWN, "-1": LABEL_UNKNOWN, "unknown": LABEL_UNKNOWN, "?": LABEL_UNKNOWN,
}
_SPEC = re.compile(r"^spec-(\d+)-(\d+)-(\d+)\.fits?(\.gz|\.bz2)?$", re.IGNORECASE)
_SPSPEC = re.compile(r"^spSpec-(\d+)-(\d+)-(\d+)\.fits?(\.gz|\.bz2)?$", re.IGNORECASE)  # MJD-PLATE-FIBER
_FITS_NAME = re.compile(r"\.(fits?|fts)(\.gz|\.bz2)?$", re.IGNORECASE)
_SPPLATE = re.compile(r"^spPlate-(\d+)-(\d+)(?:-\d+)?\.fits?(\.gz|\.bz2)?$", re.IGNORECASE)


@dataclass
class BuildReport:
    """What a build wrote and what it skipped: (id, reason) per rejected star."""

    path: Path
    count: int
    n_bhb: int
    n_non_bhb: int
    rejected: list[tuple[str, str]] = field(default_factory=list)
    skipped_files: list[dict[str, str]] = field(default_factory=list)  # files found but unusable: path, reason

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "count": self.count, "n_bhb": self.n_bhb, "n_non_bhb": self.n_non_bhb,
                "n_rejected": len(self.rejected), "rejected": [{"id": i, "reason": r} for i, r in self.rejected],
                "skipped_files": self.skipped_files}


def labels_of(catalog: Table, path: str | os.PathLike | None = None) -> np.ndarray:
    """The catalog's ``label`` column as 1 / 0 / -1 (numbers or words such as BHB, BSS, non-BHB)."""
    if "label" not in catalog.colnames:
        return np.full(len(catalog), LABEL_UNKNOWN, dtype=np.int64)
    col = np.ma.asarray(catalog["label"])
    if col.dtype.kind in "iuf":
        values = np.ma.filled(col.astype(float), LABEL_UNKNOWN)
        if not np.all(np.isin(values, (LABEL_BHB, LABEL_NON_BHB, LABEL_UNKNOWN))):
            raise BadInputError(
                path,
                "column 'label': expected 1 (BHB), 0 (non-BHB) or -1 "
                f"(unknown), found {sorted(set(values.tolist()))[:5]}",
            )
        return values.astype(np.int64)
    words = np.char.lower(np.char.strip(np.ma.filled(col.astype(str), "")))
    unknown = sorted({w for w in words.tolist() if w not in LABEL_WORDS})
    if unknown:
        raise BadInputError(
            path,
            f"column 'label': unknown labels {unknown[:5]}; expected BHB / non-BHB (BSS, MS) / unknown, or 1 / 0 / -1",
        )
    return np.array([LABEL_WORDS[w] for w in words.tolist()], dtype=np.int64)


def assemble(
    out: str | os.PathLike,
    catalog: Table,
    load: Loader,
    *,
    labels: np.ndarray | None = None,
    provenance: dict[str, Any] | None = None,
    size: int = CUTOUT_SIZE,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    stage: str = "build",
) -> BuildReport:
    """Load every row, skip the bad ones with their reason, and write the kept ones as a data set.

    The data set is built in a temporary folder next to ``out`` and swapped in whole at the end
    (core.files.staged_directory), so a crash, a kill or a full disk leaves the old data set (or
    none), never a new catalog over old arrays. Arrays are filled in memory-mapped scratch files
    reserved on disk beforehand (a full disk is an error up front, not a SIGBUS halfway). A build
    where every star is rejected raises BadInputError and leaves ``out`` as it was.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(out, "is a file, not a data-set folder")
    n = len(catalog)
    labels = labels_of(catalog) if labels is None else np.asarray(labels, dtype=np.int64)
    shapes = {"spectra.npy": (max(n, 1), NPIX), "ivar.npy": (max(n, 1), NPIX),
              "cutouts.npy": (max(n, 1), len(BANDS), size, size)}
    need = sum(4 * int(np.prod(s)) for s in shapes.values())
    try:
        with staged_directory(out) as staged:
            check_free_space(staged, 2 * need + SPACE_MARGIN, f"a data set of up to {n} stars (scratch + final copy)")
            scratch = staged / "scratch"
            scratch.mkdir()
            flux, ivar, cubes = (_scratch_array(scratch / name, shape) for name, shape in shapes.items())
            kept, rejected = _load_all(catalog, load, (flux, ivar, cubes), size, progress, cancel, stage)
            if not kept:
                first = "; ".join(f"{s}: {r}" for s, r in rejected[:3])
                raise BadInputError(out, f"no usable star: all {n} were rejected ({first})")
            table = catalog[kept]
            table["label"] = labels[kept]
            prov = dict(provenance or {})
            prov.update(n_input=n, n_rejected=len(rejected), rejected=[{"id": s, "reason": r} for s, r in rejected])
            k = len(kept)
            write_dataset(staged, table, flux[:k], ivar[:k], cubes[:k], prov)
            del flux, ivar, cubes  # unmap before the scratch files go
            shutil.rmtree(scratch)
    except OutputError as exc:  # name the data set, not its temporary folder
        raise OutputError(out, exc.problem) from exc
    lab = labels[kept]
    skipped = list((provenance or {}).get("skipped_files", []))
    return BuildReport(out, k, int(np.sum(lab == LABEL_BHB)), int(np.sum(lab == LABEL_NON_BHB)), rejected, skipped)


def _scratch_array(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 memory map with its blocks reserved on disk (see core.files.allocate)."""
    try:
        array = np.lib.format.open_memmap(path, "w+", np.float32, shape)
    except OSError as exc:
        raise output_error(path, exc) from exc
    allocate(path, path.stat().st_size)
    return array


def _load_all(catalog: Table, load: Loader, arrays: tuple[np.ndarray, ...], size: int, progress: ProgressCallback,
              cancel: CancelToken | None, stage: str) -> tuple[list[int], list[tuple[str, str]]]:
    """Fill ``arrays`` (flux, ivar, cubes) with the rows that load; (kept row indices, (id, reason) rejected)."""
    flux, ivar, cubes = arrays
    n = len(catalog)
    kept: list[int] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, row in enumerate(catalog):
        if cancel is not None:
            cancel.check()
        star = str(row["id"])
        try:
            if star in seen:
                raise BadInputError(star, "duplicate id: an earlier row has it")
            seen.add(star)
            f, iv, cube = load(row)
            _check_item(star, f, iv, cube, size)
        except BadInputError as exc:
            rejected.append((star, exc.problem if exc.path in (None, star) else str(exc)))
        else:
            k = len(kept)
            flux[k], ivar[k], cubes[k] = f, iv, np.nan_to_num(cube, nan=0.0, posinf=0.0, neginf=0.0)
            kept.append(i)
        progress(ProgressEvent(stage, i + 1, n, star, {"kept": len(kept), "rejected": len(rejected)}))
    return kept, rejected


def _check_item(star: str, flux: np.ndarray, ivar: np.ndarray, cube: np.ndarray, size: int) -> None:
    if np.shape(flux) != (NPIX,) or np.shape(ivar) != (NPIX,):
        raise BadInputError(star, f"spectrum has shape {np.shape(flux)}, expected ({NPIX},) on the grid")
    if np.shape(cube) != (len(BANDS), size, size):
        raise BadInputError(star, f"cutout cube has shape {np.shape(cube)}, expected {(len(BANDS), size, size)}")


def place_from_spectrum(row: Row, spectrum: GridSpectrum) -> None:
    """A row without RA/Dec (a catalog of plate/mjd/fiber or specobjid) takes its spectrum's fibre position.

    Writes into the row's table, so the data set's catalog records where the cutout was cut.
    """
    ra, dec = spectrum.meta.get("ra"), spectrum.meta.get("dec")
    if ra is None or dec is None or (np.isfinite(float(row["ra"])) and np.isfinite(float(row["dec"]))):
        return
    row["ra"], row["dec"] = float(ra), float(dec)


# -- spectra on disk --------------------------------------------------------------------------------
class SpectrumFiles:
    """Finds a star's spectrum among files on disk, reading each file at most once in a while."""

    def __init__(self, folder: str | os.PathLike | None = None, cache_files: int = 8, partial: bool = False) -> None:
        self.folder = Path(folder) if folder else None
        self.by_pmf: dict[tuple[int, int, int], Path] = {}
        self.plates: dict[tuple[int, int], Path] = {}
        if self.folder is not None:
            if not self.folder.is_dir():
                raise BadInputError(self.folder, "spectra folder not found")
            for path in sorted(self.folder.rglob("*")):
                self._index(path)
        self._read = functools.lru_cache(maxsize=cache_files)(functools.partial(_read_or_error, partial=partial))

    def _index(self, path: Path) -> None:
        if m := _SPEC.match(path.name):
            self.by_pmf[(int(m[1]), int(m[2]), int(m[3]))] = path
        elif m := _SPSPEC.match(path.name):
            self.by_pmf[(int(m[2]), int(m[1]), int(m[3]))] = path
        elif m := _SPPLATE.match(path.name):
            self.plates[(int(m[1]), int(m[2]))] = path

    def find(self, row: Row, base: Path | None = None) -> GridSpectrum:
        """The row's spectrum on the grid; BadInputError naming the file (or the star) otherwise."""
        pmf = row_pmf(row)
        named = _row_value(row, SPECTRUM_COLUMNS)
        if named:
            path = _resolve(named, [base, self.folder], suffixes=("", ".fits", ".fits.gz", ".fits.bz2", ".fit"))
        elif pmf is not None and pmf in self.by_pmf:
            path = self.by_pmf[pmf]
        elif pmf is not None and pmf[:2] in self.plates:
            path = self.plates[pmf[:2]]
        else:
            where = f"under {self.folder}" if self.folder else "(no spectra folder given)"
            want = f"{spec_name(*pmf)}.fits" if pmf else "a 'spectrum' column or plate/mjd/fiber"
            raise BadInputError(str(row["id"]), f"no spectrum file: expected {want} {where}")
        batch = self._read(path)
        if isinstance(batch, BadInputError):
            raise batch
        return pick_spectrum(batch, path, pmf)


def _read_or_error(path: Path, partial: bool = False) -> SpectrumBatch | BadInputError:
    """Cached alongside good reads, so a broken spPlate is reported per star without re-reading it."""
    try:
        return read_spectra(path, partial=partial)
    except BadInputError as exc:
        return exc


def pick_spectrum(batch: SpectrumBatch, path: Path, pmf: tuple[int, int, int] | None) -> GridSpectrum:
    """The spectrum with the row's Plate-MJD-Fiber id, or the only one in a file the catalog named."""
    want = pmf_id(*pmf) if pmf else None
    entries = [(s.id, s, "") for s in batch.spectra] + [(sid, None, reason) for sid, reason in batch.rejected]
    match = [e for e in entries if want is None or e[0] == want] or (entries if len(entries) == 1 else [])
    if not match:
        raise BadInputError(path, f"file holds no spectrum for {want}")
    sid, spectrum, reason = match[0]
    if spectrum is None:
        raise BadInputError(path, f"spectrum {sid} rejected: {reason}")
    return spectrum


def row_pmf(row: Row) -> tuple[int, int, int] | None:
    names = row.colnames
    if not all(c in names for c in ("plate", "mjd", "fiber")):
        return None
    values = [row[c] for c in ("plate", "mjd", "fiber")]
    if any(np.ma.is_masked(v) for v in values):
        return None
    return int(values[0]), int(values[1]), int(values[2])


# -- images on disk -----------------------------------------------------------------------------------
def edge_distance(image: cutouts.BandImage, ra: float, dec: float) -> float:
    """Pixels from (ra, dec) to the nearest edge of the image; negative when outside it, -inf when
    the projection cannot place it at all (e.g. on the far side of a TAN projection)."""
    x, y = image.wcs.world_to_pixel_values(ra, dec)
    ny, nx = image.data.shape
    d = float(min(x + 0.5, nx - 0.5 - x, y + 0.5, ny - 0.5 - y))
    return d if np.isfinite(d) else -np.inf


def best_image(images: list[cutouts.BandImage], ra: float, dec: float) -> cutouts.BandImage:
    """Of overlapping frames of one band, the one where the star lies farthest inside; none inside raises."""
    best = max(images, key=lambda im: edge_distance(im, ra, dec), default=None)
    if best is None or edge_distance(best, ra, dec) < 0:
        band = f"{best.band} " if best is not None else ""
        raise BadInputError(
            best.source if best is not None else None, f"RA/Dec {ra:.5f}, {dec:+.5f} lies outside every {band}image"
        )
    return best


@dataclass
class _Footprint:
    path: Path
    band: str | None  # None for a cube file
    wcs: Any
    shape: tuple[int, int]

    def centre_and_radius(self) -> tuple[np.ndarray, float]:
        """Unit vector of the image centre and the chord to its farthest corner, for the sky index."""
        ny, nx = self.shape
        xs, ys = (
            np.array([(nx - 1) / 2, -0.5, nx - 0.5, -0.5, nx - 0.5]),
            np.array([(ny - 1) / 2, -0.5, -0.5, ny - 0.5, ny - 0.5]),
        )
        v = _unit(*self.wcs.pixel_to_world_values(xs, ys))
        return v[0], float(np.max(np.linalg.norm(v[1:] - v[0], axis=1)))


def _unit(ra, dec) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


class _SkyIndex:
    """Images whose footprint may hold a position: a k-d tree of centres, so each look-up is
    logarithmic in the number of files (one stamp per star means thousands of them)."""

    def __init__(self, footprints: list[_Footprint]) -> None:
        self.footprints = footprints
        if footprints:
            centres, radii = zip(*(fp.centre_and_radius() for fp in footprints), strict=False)
            self.tree, self.radius = cKDTree(np.array(centres)), max(radii) * 1.001
        else:
            self.tree, self.radius = None, 0.0

    def near(self, ra: float, dec: float) -> list[_Footprint]:
        if self.tree is None:
            return []
        return [self.footprints[i] for i in sorted(self.tree.query_ball_point(_unit(ra, dec), self.radius))]


class ImageFiles:
    """Per-band frames or stamps (with WCS) and cutout cubes under a folder, found by position."""

    def __init__(self, folder: str | os.PathLike | None = None, size: int = CUTOUT_SIZE, cache_files: int = 16) -> None:
        self.folder = Path(folder) if folder else None
        self.size = size
        self.frames: list[_Footprint] = []
        self.cubes: list[_Footprint] = []
        self.skipped: list[tuple[str, str]] = []  # files in the folder that are neither
        if self.folder is not None:
            if not self.folder.is_dir():
                raise BadInputError(self.folder, "images folder not found")
            for path in sorted(self.folder.rglob("*")):
                if path.is_file() and _FITS_NAME.search(path.name):
                    self._index(path)
        self._frames_sky, self._cubes_sky = _SkyIndex(self.frames), _SkyIndex(self.cubes)
        self._load = functools.lru_cache(maxsize=cache_files)(cutouts.load_band_image)

    def _index(self, path: Path) -> None:
        try:
            with open_fits(path, "image FITS file") as hdul:
                hdu = next((h for h in hdul if h.is_image and h.header.get("NAXIS") in (2, 3)), None)
                if hdu is None:
                    raise BadInputError(path, "no 2-D or 3-D image HDU")
                wcs = cutouts.celestial_wcs(hdu.header)
                if wcs is None:
                    raise BadInputError(path, "image has no celestial WCS")
                cutouts.check_equatorial(wcs, path)
                ndim = hdu.header["NAXIS"]
                shape = (int(hdu.header["NAXIS2"]), int(hdu.header["NAXIS1"]))  # headers only: frames are big
                if ndim == 3:
                    self.cubes.append(_Footprint(path, None, wcs, shape))
                else:
                    band = cutouts.file_band(path, hdu.header, hdul[0].header)
                    if band is None:
                        raise BadInputError(path, "cannot tell the band of this image")
                    self.frames.append(_Footprint(path, band, wcs, shape))
        except BadInputError as exc:
            self.skipped.append((str(path), exc.problem))

    def cube(self, row: Row, base: Path | None = None) -> np.ndarray:
        """The row's bands×size×size cube: a cube file or band files the catalog names, one centred on the star,
        or cut from frames; NoCutout when nothing names or covers the star."""
        named = _row_value(row, CUBE_COLUMNS)
        if named:
            return self._read_cube(_resolve(named, [base, self.folder]))
        ra, dec = float(row["ra"]), float(row["dec"])
        if not (np.isfinite(ra) and np.isfinite(dec)):
            raise BadInputError(str(row["id"]), "no RA/Dec to place a cutout")
        band_files = named_band_files(row, [base, self.folder])
        if band_files:
            return cutouts.cube_from_files(band_files, ra, dec, self.size).data
        for fp in self._cubes_sky.near(ra, dec):
            x, y = fp.wcs.world_to_pixel_values(ra, dec)
            centre = cutouts.centre_pixel(fp.shape[-1])
            if fp.shape[-1] == self.size and abs(x - centre) < 0.5 and abs(y - centre) < 0.5:
                return self._read_cube(fp.path)
        images: dict[str, cutouts.BandImage] = {}
        covering = [fp for fp in self._frames_sky.near(ra, dec) if _inside(fp, ra, dec)]
        if not covering:
            raise NoCutout(str(row["id"]), "no cutout: the catalog names none and no image covers the star")
        for band in BANDS:
            inside = [fp for fp in covering if fp.band == band]
            if not inside:
                where = f"under {self.folder}" if self.folder else "(no images folder given)"
                raise BadInputError(
                    str(row["id"]),
                    f"missing band {band!r}: no {band} image with WCS covers RA/Dec {ra:.5f}, {dec:+.5f} {where}",
                )
            images[band] = best_image([self._load(fp.path, band) for fp in inside], ra, dec)
        return cutouts.make_cube(images, ra, dec, self.size).data

    def _read_cube(self, path: Path) -> np.ndarray:
        cube = cutouts.read_cube(path)
        if cube.bands != BANDS or cube.size != self.size:
            raise BadInputError(
                path,
                f"cube holds bands {cube.bands} at {cube.size}×{cube.size}, "
                f"expected {BANDS} at {self.size}×{self.size}",
            )
        return cube.data


def _inside(fp: _Footprint, ra: float, dec: float) -> bool:
    x, y = fp.wcs.world_to_pixel_values(ra, dec)
    ny, nx = fp.shape
    return bool(-0.5 <= x <= nx - 0.5 and -0.5 <= y <= ny - 0.5)


def build_from_files(
    out: str | os.PathLike,
    catalog: str | os.PathLike | Table,
    *,
    spectra: str | os.PathLike | None = None,
    images: str | os.PathLike | None = None,
    label: int | None = None,
    size: int = CUTOUT_SIZE,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    rows: np.ndarray | slice | None = None,
    partial: bool = False,
) -> BuildReport:
    """A data set from a catalog plus spectrum files and image files on disk (see module doc).

    ``label`` (1 / 0) labels every row, for a catalog of one class without a label column.
    ``rows`` builds only those catalog rows, in that order (one part of a sharded or parallel
    build, see core.ingest.build_parallel). ``partial`` keeps spectra that cover only part of the
    4,000–9,000 Å window (a stellar library's, say), the rest masked, each marked by its
    ``valid_fraction``; by default such a spectrum is rejected, as the paper did.
    """
    path = catalog if isinstance(catalog, Table) else Path(catalog)
    table = catalog.copy() if isinstance(catalog, Table) else read_candidates(catalog)
    table = table if rows is None else table[rows]
    base = None if isinstance(catalog, Table) else Path(catalog).parent
    labels = labels_of(table, None if base is None else path) if label is None else np.full(len(table), int(label))
    spectrum_files = SpectrumFiles(spectra, partial=partial)
    image_files = ImageFiles(images, size)

    spectrum_only: list[str] = []  # ids kept without a cutout (zero cube, has_cutout False)
    table["has_cutout"] = np.ones(len(table), bool)
    add_quality_columns(table)

    def load(row: Row) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        try:
            spectrum = spectrum_files.find(row, base)
            place_from_spectrum(row, spectrum)
            set_quality(row, spectrum.meta)
            try:
                cube = image_files.cube(row, base)
            except NoCutout:
                row["has_cutout"] = False
                spectrum_only.append(str(row["id"]))
                cube = np.zeros((len(BANDS), size, size), np.float32)
            return spectrum.flux, spectrum.ivar, cube
        except (BadInputError, Cancelled):
            raise
        except Exception as exc:  # one odd file must not end the build; the log has the traceback
            log.warning("star %s: unexpected %s", row["id"], type(exc).__name__, exc_info=True)
            raise BadInputError(str(row["id"]), f"unexpected {type(exc).__name__}: {exc}") from exc

    provenance = {
        "builder": "files",
        "catalog": str(path) if base is not None else "(table)",
        "spectra": None if spectra is None else str(spectra),
        "images": None if images is None else str(images),
        "skipped_files": [{"path": p, "reason": r} for p, r in image_files.skipped],
        "spectrum_only": spectrum_only,
    }
    return assemble(
        out, table, load, labels=labels, provenance=provenance, size=size, progress=progress, cancel=cancel,
        stage="build",
    )
