"""The files the viewer hands other SAMP clients: one band of a cutout as FITS with a celestial WCS
(DS9, Aladin), a spectrum as a FITS binary table (SPLAT, specviz).

SAMP passes files by URL, so each is written into the link's private temporary folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core.grid import PIXEL_SCALE_ARCSEC
from bhb_viewer.core.readers.cutouts import centre_pixel


def safe_name(name: str) -> str:
    """``name`` as a file name: letters, digits and ``-_.`` kept, the rest ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "candidate"


def write_cutout(folder: Path, image: np.ndarray, ra: float, dec: float, name: str, wcs: Any = None) -> Path:
    """One band's NxN cutout as FITS with a celestial WCS: ``wcs`` where the cutout has one (a cube
    file's), else a TAN grid centred on (ra, dec) at the SDSS pixel scale, north up and east left
    (data sets keep no WCS; the header says the orientation is assumed)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"a cutout is an NxN image, not {image.shape}")
    assumed = wcs is None
    if assumed:
        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        wcs.wcs.crval = [ra, dec]
        wcs.wcs.crpix = [centre_pixel(image.shape[0]) + 1] * 2
        scale = PIXEL_SCALE_ARCSEC / 3600.0
        wcs.wcs.cdelt = [-scale, scale]
    header = wcs.celestial.to_header()
    if assumed:
        header["COMMENT"] = "bhb_viewer: orientation assumed north up, east left (the data set keeps no WCS)"
    header["OBJECT"] = name
    path = folder / f"{safe_name(name)}.fits"
    fits.PrimaryHDU(image, header).writeto(path, overwrite=True)
    return path


def write_spectrum(folder: Path, wavelength: np.ndarray, flux: np.ndarray, name: str,
                   ivar: np.ndarray | None = None) -> Path:
    """A FITS binary table: WAVELENGTH in vacuum Å, FLUX and, where given, IVAR."""
    from astropy.table import Table

    table = Table({"WAVELENGTH": np.asarray(wavelength, dtype=np.float64),
                   "FLUX": np.asarray(flux, dtype=np.float32)})
    if ivar is not None:
        table["IVAR"] = np.asarray(ivar, dtype=np.float32)
    table["WAVELENGTH"].unit = "Angstrom"
    table.meta["OBJECT"] = name
    path = folder / f"{safe_name(name)}-spectrum.fits"
    table.write(path, format="fits", overwrite=True)
    return path
