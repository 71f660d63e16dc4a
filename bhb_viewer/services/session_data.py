"""Spectra and cutouts for vetted candidates from the SDSS cache, offline (``bhb dataset from-session``).

Turning verdicts into a data set must never wait on the network: a candidate whose data is neither in
the session's source nor in the base set is looked up in the cache the viewer and the builders fill,
and skipped with the reason when it is not there.
"""

from __future__ import annotations

import os

import numpy as np
from astropy.table import Row

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import CUTOUT_SIZE
from bhb_viewer.core.ingest.build import place_from_spectrum
from bhb_viewer.services.builder import row_spectrum
from bhb_viewer.services.sdss import SDSSError, SDSSService


def sdss_cache_loader(cache_dir: str | os.PathLike | None = None, size: int = CUTOUT_SIZE):
    """A loader (row → flux, ivar, cube) reading only the SDSS cache; a miss is a BadInputError."""
    service = SDSSService(cache_dir, offline=True)

    def load(row: Row) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        try:
            spectrum = row_spectrum(service, row)
            place_from_spectrum(row, spectrum)
            cube = service.cube(float(row["ra"]), float(row["dec"]), size)
        except SDSSError as exc:
            raise BadInputError(str(row["id"]), f"SDSS cache: {exc}") from exc
        except (ValueError, KeyError) as exc:  # no plate/mjd/fiber, no usable position
            raise BadInputError(str(row["id"]), f"SDSS cache: cannot look it up ({exc})") from exc
        return spectrum.flux, spectrum.ivar, cube.data

    return load
