"""Tell what a path holds, so the CLI's inspect and the viewer's Open route a file the same way."""

from __future__ import annotations

import bz2
import gzip
import zlib
from pathlib import Path

from bhb_viewer.core.dataset import is_dataset, missing_manifest_problem
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.readers.fitsfile import open_fits
from bhb_viewer.core.readers.spectra import spectrum_kind


def detect_kind(path: Path) -> str:
    """'dataset', 'catalog', 'spectra', 'cube' or 'image' from the path and, for FITS, its layout."""
    if path.is_dir():
        if is_dataset(path):
            return "dataset"
        raise BadInputError(path, missing_manifest_problem(path))
    if not path.exists():
        raise BadInputError(path, "file not found")
    if not _looks_like_fits(path):
        return "catalog"
    with open_fits(path) as hdul:
        data0 = hdul[0].data
        if data0 is not None and data0.ndim == 3:
            return "cube"
        try:
            spectrum_kind(hdul, path)
            return "spectra"
        except BadInputError:
            pass
        if data0 is not None and data0.ndim == 2:  # an SDSS frame: the image first, sky and calibration tables after
            return "image"
        if any(h.is_image is False for h in hdul[1:]):
            return "catalog"
        if any(h.is_image and h.data is not None and h.data.ndim == 2 for h in hdul):
            return "image"
    raise BadInputError(path, "FITS file holds no table, spectrum, cube or image the viewer can use")


FITS_SUFFIXES = (".fits", ".fit", ".fts")
GZIP_MAGIC, BZIP2_MAGIC = b"\x1f\x8b", b"BZh"


def _looks_like_fits(path: Path) -> bool:
    """FITS by its first card, also inside gzip/bzip2 (SDSS serves frames as .fits.bz2), or by its name."""
    with open(path, "rb") as f:
        head = f.read(9)
    opener = gzip.open if head.startswith(GZIP_MAGIC) else bz2.open if head.startswith(BZIP2_MAGIC) else None
    if opener is not None:
        try:
            with opener(path, "rb") as f:
                head = f.read(9)
        except (OSError, EOFError, ValueError, zlib.error):  # corrupt or truncated archive: let the name decide
            head = b""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    named = bool(suffixes) and (
        suffixes[-1] in FITS_SUFFIXES or (suffixes[-1] in (".gz", ".bz2") and suffixes[0] in FITS_SUFFIXES)
    )
    return head == b"SIMPLE  =" or named
