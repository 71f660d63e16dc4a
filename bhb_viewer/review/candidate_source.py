"""What a review covers: a candidate table plus, where known, each candidate's spectrum and cutouts.

A data-set directory brings all three (memory-mapped, so opening 100,000 candidates costs no
RAM); a catalog file brings the table only; spectrum files bring spectra and a table built from
them; a cutout file adds a cube to one candidate. The review asks per row and shows what exists.
Also here: where the built-in demo lives, and where a session file goes.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from bhb_viewer.core.dataset import RowView, open_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import require_regular_file
from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE
from bhb_viewer.core.readers.candidates import read_candidates
from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes
from bhb_viewer.core.readers.cutouts import cube_from_files, read_cube
from bhb_viewer.core.readers.input_kind import detect_kind
from bhb_viewer.core.readers.spectra import read_native_spectra, read_spectra
from bhb_viewer.core.resources import ROOT as RESOURCES_ROOT

SESSION_SUFFIX = ".session.sqlite"
DEMO_DATASET = Path("bhb_viewer") / "resources" / "demo"  # beside the package: the checkout or site-packages
DEMO_MODEL = Path("models") / "batmm-lite-sim"


@dataclass
class CandidateSource:
    """A candidate table with optional per-row arrays (None where the source has none)."""

    catalog: Table
    origin: Path  # what the person opened
    catalog_file: Path  # the file a session records (and hashes) as its catalog
    spectra: np.ndarray | RowView | None = None  # N×NPIX flux
    ivar: np.ndarray | RowView | None = None
    cutouts: np.ndarray | RowView | None = None  # N×5×S×S
    labels: np.ndarray | None = None  # 1 BHB / 0 non-BHB / -1 unknown, from a labelled data set
    extra_cubes: dict[int, np.ndarray] = field(default_factory=dict)  # dropped or fetched, by row
    extra_spectra: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # each row's spectrum over its file's whole range (wavelength, flux, ivar), where the list came from
    # spectrum files: what the viewer's "full range" shows beyond the model's grid
    native_spectra: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    ids: np.ndarray = field(init=False)  # candidate ids as str, the session's keys
    # (N, 15) catalogue u,g,r,i,z, errors and extinctions, NaN where missing (for colour models)
    mags: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.catalog["id"]).astype(str)
        self.mags = catalog_magnitudes(self.catalog)

    def __len__(self) -> int:
        return len(self.catalog)

    @property
    def scorable(self) -> bool:
        """Whether the list has arrays of its own to score (a model's heads score a single modality)."""
        return self.spectra is not None or self.cutouts is not None

    def full_spectrum(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Wavelength, flux and ivar of ``row`` over its file's whole range, or None (a data set or
        catalog keeps the model's grid only; a spectrum fetched since replaces the file's)."""
        return None if row in self.extra_spectra else self.native_spectra.get(row)

    def spectrum(self, row: int) -> tuple[np.ndarray, np.ndarray] | None:
        if row in self.extra_spectra:
            return self.extra_spectra[row]
        if self.spectra is None or self.ivar is None:
            return None
        return np.asarray(self.spectra[row], dtype=np.float32), np.asarray(self.ivar[row], dtype=np.float32)

    def parts(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: whether it has a spectrum, and whether it has cutouts (its own, fetched or dropped)."""
        rows = np.asarray(rows, dtype=np.int64)
        has_s = np.full(len(rows), self.spectra is not None)
        has_i = np.full(len(rows), self.cutouts is not None)
        if self.extra_spectra or self.extra_cubes:
            has_s |= np.isin(rows, list(self.extra_spectra))
            has_i |= np.isin(rows, list(self.extra_cubes))
        return has_s, has_i

    def arrays(self, rows: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """Flux, ivar and cubes of ``rows`` as float32 stacks for the model; zeros where a row lacks a
        part (the model then scores it with the head it has data for), None where no row has it.

        Rows are read from the memory-mapped arrays in one slice unless one of them was fetched or dropped.
        """
        rows = np.asarray(rows, dtype=np.int64)
        extra = any(int(r) in self.extra_spectra or int(r) in self.extra_cubes for r in rows)
        if not extra:
            flux = None if self.spectra is None else np.asarray(self.spectra[rows], np.float32)
            ivar = None if self.ivar is None or flux is None else np.asarray(self.ivar[rows], np.float32)
            cubes = None if self.cutouts is None else np.asarray(self.cutouts[rows], np.float32)
            return flux, ivar, cubes
        spectra = [self.spectrum(int(r)) for r in rows]
        cube_list = [self.cube(int(r)) for r in rows]
        flux = ivar = cubes = None
        if any(s is not None for s in spectra):
            npix = next(s for s in spectra if s is not None)[0].shape[-1]
            flux, ivar = np.zeros((len(rows), npix), np.float32), np.zeros((len(rows), npix), np.float32)
            for i, s in enumerate(spectra):
                if s is not None:
                    flux[i], ivar[i] = s
        if any(c is not None for c in cube_list):
            shape = next(c for c in cube_list if c is not None).shape
            cubes = np.zeros((len(rows), *shape), np.float32)
            for i, c in enumerate(cube_list):
                if c is not None:
                    cubes[i] = c
        return flux, ivar, cubes

    def cube(self, row: int) -> np.ndarray | None:
        if row in self.extra_cubes:
            return self.extra_cubes[row]
        return None if self.cutouts is None else np.asarray(self.cutouts[row], dtype=np.float32)

    def reference_spectra(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Mean BHB and mean non-BHB flux of a labelled source (for the spectrum overlay), or None."""
        if self.spectra is None or self.labels is None:
            return None
        bhb, non = np.flatnonzero(self.labels == 1), np.flatnonzero(self.labels == 0)
        if not len(bhb) or not len(non):
            return None
        return _mean_rows(self.spectra, bhb), _mean_rows(self.spectra, non)


def _mean_rows(arr: np.ndarray | RowView, rows: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Mean of some rows of a (memory-mapped) array, read a chunk at a time."""
    total = np.zeros(arr.shape[1], dtype=np.float64)
    for start in range(0, len(rows), chunk):
        total += np.asarray(arr[rows[start : start + chunk]], dtype=np.float64).sum(axis=0)
    return (total / len(rows)).astype(np.float32)


def file_kind(path: str | os.PathLike) -> str:
    """'dataset', 'catalog', 'spectra', 'cube' or 'image' (the same sniffing as ``bhb inspect``).

    Only folders and regular files are read: a named pipe called x.fits would block the window
    forever. A file that breaks its reader (a damaged .gz) is a BadInputError naming it.
    """
    path = Path(path)
    if not path.is_dir():
        require_regular_file(path)
    try:
        return detect_kind(path)
    except BadInputError:
        raise
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise BadInputError(path, f"cannot be read ({type(exc).__name__}: {exc})") from exc


def open_source(path: str | os.PathLike) -> CandidateSource:
    """Open a data set, a catalog or an SDSS spectrum file as a candidate list.

    Parameters
    ----------
    path : str or PathLike
        A data-set folder, a catalog (CSV, ECSV, FITS, VOTable, CDS) or an SDSS spectrum file.

    Returns
    -------
    CandidateSource

    Raises
    ------
    BadInputError
        The file is none of these, or cannot be read; the message names the file and the problem.
    """
    path = Path(path)
    kind = file_kind(path)
    if kind == "dataset":
        ds = open_dataset(path)
        return CandidateSource(ds.catalog, path, path / "catalog.ecsv", ds.spectra, ds.ivar, ds.cutouts, ds.labels)
    if kind == "spectra":
        return _spectra_source(path)
    if kind in ("cube", "image"):
        raise BadInputError(path, "a cutout file is not a candidate list: "
                                  "open a catalog first, then drop it on the window")
    return CandidateSource(read_candidates(path), path, path)


def _spectra_source(path: Path) -> CandidateSource:
    """The spectra of one file as candidates (id, position from the file), rejected ones named.

    A spectrum that covers only part of the window is shown (``partial``): its low valid fraction
    marks its score unreliable rather than hiding the star.
    """
    batch = read_spectra(path, partial=True)
    if not len(batch):
        reasons = "; ".join(f"{name}: {why}" for name, why in batch.rejected[:3])
        raise BadInputError(path, f"no spectrum covers the grid window ({reasons})")
    flux, ivar = batch.stack()
    catalog = Table({
        "id": batch.ids,
        "ra": [float(s.meta.get("ra") or np.nan) for s in batch.spectra],
        "dec": [float(s.meta.get("dec") or np.nan) for s in batch.spectra],
        "valid_fraction": [s.valid_fraction for s in batch.spectra],
        "resolution": [float(s.meta.get("resolution") or np.nan) for s in batch.spectra],
        "resolution_is_upper_limit": [bool(s.meta.get("resolution_is_upper_limit")) for s in batch.spectra],
    })
    catalog.meta["rejected"] = [f"{name}: {why}" for name, why in batch.rejected]
    row_of = {cid: row for row, cid in enumerate(batch.ids)}
    native = {row_of[n.id]: (n.wavelength, n.flux.astype(np.float32), n.ivar.astype(np.float32))
              for n in read_native_spectra(path) if n.id in row_of}
    return CandidateSource(catalog, path, path, flux, ivar, native_spectra=native)


def cube_from_band_files(paths: list[Path], ra: float, dec: float, size: int = CUTOUT_SIZE) -> np.ndarray:
    """A u,g,r,i,z cube centred on (ra, dec) from one stamp or frame per band (band from the name)."""
    return cube_from_files(paths, ra, dec, size).data


def read_cutout(path: str | os.PathLike) -> np.ndarray:
    """A u,g,r,i,z cube from a cube file, in band order, for one candidate (masked pixels are 0)."""
    cube = read_cube(path)
    if set(BANDS) - set(cube.bands):
        raise BadInputError(path, f"cube has bands {','.join(cube.bands)}; the viewer needs {','.join(BANDS)}")
    return np.stack([cube.data[cube.bands.index(b)] for b in BANDS]).astype(np.float32)


def shipped_root() -> Path:
    """The folder of the data shipped with the app (the demo set): never written into."""
    return RESOURCES_ROOT


def find_resource(relative: Path) -> Path:
    """A shipped resource (demo data, model) from the source tree or the current directory."""
    roots = (Path(__file__).resolve().parents[2], Path.cwd())
    for root in roots:
        if (root / relative).exists():
            return root / relative
    tried = ", ".join(str(root / relative) for root in roots)
    raise BadInputError(relative, f"the built-in resource is missing (looked in {tried})")


def writable_folder(folder: Path) -> bool:
    """Whether the review may write into ``folder``: the mode bits too, so a folder marked read-only
    stays untouched even for a user (root) who could write."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & stat.S_IWUSR)


def session_path_for(source: CandidateSource, data_dir: Path) -> Path:
    """Where the session of ``source`` lives: next to the catalog where that folder is writable (and
    not shipped data), else in ``data_dir/sessions`` under a name unique to the catalog's path.

    Parameters
    ----------
    source : CandidateSource
    data_dir : Path
        The user's data folder.

    Returns
    -------
    Path
        A ``*.session.sqlite`` path (the file may not exist yet).
    """
    base = source.origin if source.origin.is_dir() else source.origin.parent
    name = (source.origin.name if source.origin.is_dir() else source.origin.stem) + SESSION_SUFFIX
    shipped = shipped_root()
    # The mode bits too: a folder marked read-only stays untouched even for a user (root) who could write.
    writable = os.access(base, os.W_OK) and bool(base.stat().st_mode & stat.S_IWUSR)
    if writable and not base.resolve().is_relative_to(shipped):
        return base / name
    digest = hashlib.sha256(str(source.origin.resolve()).encode()).hexdigest()[:10]
    folder = data_dir / "sessions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{Path(name).stem.removesuffix('.session')}-{digest}{SESSION_SUFFIX}"
