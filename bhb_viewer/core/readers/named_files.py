"""Files a catalog names for each candidate: a spectrum, one cube file, or five per-band images.

A catalog can carry everything a data set needs, so ``bhb dataset build --catalog CAT --out DIR``
needs no folders: ``spectrum_file`` (or spectrum, spec_file, filename…), a cube column (cutout,
cube, cutout_file, cube_file) or one column per band. Band columns cannot be called u…z, which
are magnitudes in every catalog, so they are ``u_file`` … ``z_file`` (also ``file_u``, ``u_image``,
``image_u``, ``u_stamp``, ``stamp_u``). Relative names are taken relative to the catalog's folder
first, then the folder given on the command line.

A candidate whose catalog row names no cutout and whom no image on disk covers is built
spectrum-only: :class:`NoCutout` tells the builder so (it stores a zero cube and
``has_cutout = False``); a named file that is missing or broken is an error for that candidate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Row

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import BANDS

BAND_COLUMN_PATTERNS = ("{b}_file", "file_{b}", "{b}_image", "image_{b}", "{b}_stamp", "stamp_{b}")


class NoCutout(BadInputError):
    """Nothing names or covers this candidate's cutout: build it spectrum-only."""


def row_text(row: Row, names: tuple[str, ...]) -> str | None:
    """The first non-empty value among the row's columns called one of ``names`` (case-insensitive)."""
    lower = {c.lower(): c for c in row.colnames}
    for name in names:
        if name in lower:
            value = row[lower[name]]
            if not np.ma.is_masked(value) and str(value).strip():
                return str(value).strip()
    return None


def resolve(name: str, folders: list[Path | None], suffixes: tuple[str, ...] = ("",)) -> Path:
    """A file named in a catalog: absolute, or relative to the first folder that holds it."""
    bases = [Path(name)] if Path(name).is_absolute() else [f / name for f in folders if f is not None] or [Path(name)]
    for base in bases:
        for suffix in suffixes:
            candidate = base.with_name(base.name + suffix)
            if candidate.is_file():
                return candidate
    raise BadInputError(bases[0], "file named in the catalog not found")


def band_columns(colnames: list[str]) -> dict[str, str]:
    """Band → the catalog column naming that band's image file, for the bands the catalog has one for."""
    lower = {c.lower(): c for c in colnames}
    found = {}
    for band in BANDS:
        for pattern in BAND_COLUMN_PATTERNS:
            if pattern.format(b=band) in lower:
                found[band] = lower[pattern.format(b=band)]
                break
    return found


def named_band_files(row: Row, folders: list[Path | None]) -> dict[str, Path] | None:
    """The five per-band image files the row names, or None when it names none; BadInputError if only some."""
    columns = band_columns(row.colnames)
    texts = {b: row_text(row, (c.lower(),)) for b, c in columns.items()}
    named = {b: v for b, v in texts.items() if v}
    if not named:
        return None
    missing = [b for b in BANDS if b not in named]
    if missing:
        raise BadInputError(
            str(row["id"]), f"catalog names image files for bands {','.join(named)} but not {','.join(missing)}"
        )
    return {b: resolve(named[b], folders) for b in BANDS}
