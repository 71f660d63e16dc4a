"""LAMOST low-resolution spectra (LRS, R ≈ 1800 at 5500 Å), both layouts LAMOST has published.

* Older releases: a 5-row float image in the primary HDU, rows flux, inverse variance,
  wavelength (Å), andmask, ormask; the header also has COEFF0/COEFF1 like an SDSS spSpec, so the
  file is told apart by TELESCOP = 'LAMOST' (or, without it, by a third row that is a rising
  wavelength array).
* Newer releases: the primary HDU holds only the header (TELESCOP = 'LAMOST'); a binary table (EXTNAME COADD) has one
  row with array columns FLUX, IVAR, WAVELENGTH, ANDMASK, ORMASK (and NORMALIZATION).

Wavelengths are vacuum (LAMOST's pipeline works in vacuum; a VACUUM = F keyword is honoured and
converted). Flux is relatively calibrated only: the model's min–max scaling does not mind.
Pixels with a bad-pixel bit in the AND mask (core.readers.maskbits.LAMOST_BAD_BITS) are masked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.readers.maskbits import LAMOST_BAD_MASK, bad_pixels
from bhb_viewer.core.readers.spectra_generic import air_to_vacuum

LAMOST_RESOLUTION = 1800.0  # LRS resolving power at 5500 Å (LAMOST survey description)
IMAGE_ROWS = ("flux", "ivar", "wavelength", "andmask", "ormask")


def _is_lamost_header(head: fits.Header) -> bool:
    return "LAMOST" in str(head.get("TELESCOP", "")).upper()


def _table_hdu(hdul: fits.HDUList):
    for hdu in hdul[1:]:
        if isinstance(hdu, fits.BinTableHDU) and hdu.header.get("NAXIS2", 0) >= 1:
            names = {str(hdu.header.get(f"TTYPE{i}", "")).lower() for i in range(1, hdu.header.get("TFIELDS", 0) + 1)}
            if {"flux", "wavelength"} <= names:
                return hdu
    return None


def _image_layout(hdul: fits.HDUList) -> bool:
    head = hdul[0].header
    if head.get("NAXIS") != 2 or head.get("NAXIS2") != len(IMAGE_ROWS):
        return False
    if _is_lamost_header(head):
        return True
    if "SDSS" in str(head.get("TELESCOP", "")).upper():  # a DR7 spSpec is 5 rows too
        return False
    wave = np.asarray(hdul[0].data[2], float) if hdul[0].data is not None else np.zeros(1)
    return bool(wave.size > 1 and np.all(np.diff(wave) > 0) and 3000 < wave[0] < 10000)


def is_lamost(hdul: fits.HDUList) -> bool:
    """A LAMOST LRS file in either layout (see module doc)."""
    if _image_layout(hdul):
        return True
    return _is_lamost_header(hdul[0].header) and _table_hdu(hdul) is not None  # header first: no HDU scan for others


def read(
    hdul: fits.HDUList, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, list[dict[str, Any]]]:
    """(log10 vacuum λ, flux, ivar, bad-pixel mask, [meta]) of a LAMOST LRS file."""
    head = hdul[0].header
    if _image_layout(hdul):
        data = np.asarray(hdul[0].data, float)
        flux, ivar, wave, andmask = data[0], data[1], data[2], data[3]
        layout = "image"
    else:
        hdu = _table_hdu(hdul)
        if hdu is None:
            raise BadInputError(path, "LAMOST file without the 5-row image or a table with FLUX/WAVELENGTH")
        row = hdu.data[0]
        cols = {n.lower(): n for n in hdu.columns.names}
        flux, wave = np.asarray(row[cols["flux"]], float), np.asarray(row[cols["wavelength"]], float)
        ivar = np.asarray(row[cols["ivar"]], float) if "ivar" in cols else None
        andmask = np.asarray(row[cols["andmask"]]) if "andmask" in cols else None
        layout = "table"
    if wave.shape != flux.shape or wave.size < 2:
        raise BadInputError(path, f"LAMOST wavelength ({wave.shape}) and flux ({flux.shape}) disagree")
    vacuum = bool(head.get("VACUUM", True))
    if not vacuum:
        wave = air_to_vacuum(wave)
    meta: dict[str, Any] = {
        "ra": _number(head.get("RA")), "dec": _number(head.get("DEC")),
        "obsid": head.get("OBSID"), "designation": head.get("DESIG"),
        "z": _number(head.get("Z")), "class": head.get("CLASS"),
        "layout": f"LAMOST {layout}",
        "wavelength_medium": "vacuum (LAMOST)" if vacuum else "air (VACUUM = F), converted",
        "resolution": LAMOST_RESOLUTION, "resolution_source": "LAMOST LRS nominal",
    }
    return np.log10(wave), flux, ivar, bad_pixels(andmask, LAMOST_BAD_MASK), [meta]


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
