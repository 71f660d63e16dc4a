"""5-band cutout cubes from what SDSS sends: hips2fits answers or whole SDSS frames.

Network-free: the service fetches, these functions cut, so a cube can be made from files in a
test exactly as from a download.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from astropy.io import fits

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.ingest.build import best_image
from bhb_viewer.core.readers import cutouts
from bhb_viewer.services import hips
from bhb_viewer.services.sdss_errors import NotFound


def cube_from_hips(answers: Iterable[fits.HDUList], ra: float, dec: float, size: int) -> cutouts.Cube:
    """The cube from hips2fits' five answers, in BANDS order."""
    images = {b: hips.band_image(hdul, b) for b, hdul in zip(BANDS, answers, strict=True)}
    return cutouts.make_cube(images, ra, dec, size)


def cube_from_frames(frames: Iterable[fits.HDUList], ra: float, dec: float, size: int,
                     source: str) -> cutouts.Cube:
    """Cut from the frames covering the star; where fields overlap, each band uses the frame in which
    the star lies farthest from an edge. A band without a frame is ``NotFound`` (``source`` names
    where the frames came from)."""
    by_band: dict[str, list[cutouts.BandImage]] = {}
    for hdul in frames:
        image = frame_image(hdul)
        by_band.setdefault(image.band, []).append(image)
    missing = [b for b in BANDS if b not in by_band]
    if missing:
        raise NotFound(f"{source} has no {','.join(missing)} frame at RA {ra:.5f} Dec {dec:+.5f}")
    images = {b: best_image(by_band[b], ra, dec) for b in BANDS}
    return cutouts.make_cube(images, ra, dec, size)


def frame_image(hdul: fits.HDUList) -> cutouts.BandImage:
    """The calibrated image (nanomaggies), band (FILTER keyword) and WCS of an SDSS ``frame`` file in memory."""
    head = hdul[0].header
    field_no = head.get("FRAME", head.get("FIELD", "?"))  # real frame headers call the field FRAME
    name = f"SDSS frame (run {head.get('RUN', '?')}, camcol {head.get('CAMCOL', '?')}, field {field_no})"
    band = cutouts.band_of("", head)
    if band is None:
        raise BadInputError(name, "SDSS frame without a FILTER keyword naming its band")
    if hdul[0].data is None or hdul[0].data.ndim != 2:
        raise BadInputError(name, "SDSS frame without a 2-D image in its primary HDU")
    wcs = cutouts.celestial_wcs(head)
    if wcs is None:
        raise BadInputError(name, "SDSS frame without a celestial WCS")
    return cutouts.BandImage(np.asarray(hdul[0].data, np.float32), wcs, band, f"{band} {name}")
