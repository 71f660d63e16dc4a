"""5-band SDSS cutouts from the CDS hips2fits service instead of whole 15 MB frames.

A frame set costs ≈ 15 MB per star (≈ 130 GB for the paper's 8,100 stars); a 64×64 cutout of
one band is ≈ 20 kB. hips2fits resamples the SDSS DR9 HiPS of each band (CDS/P/SDSS9/u…z,
built from SDSS frames, pixel values as in the frames: nanomaggies) onto a TAN grid of our
choosing: here SDSS's own 0.396″ pixels, north up, centred on the star.

The request is built here rather than through ``hips2fitsClass.query``: that method imports
matplotlib to name a colour map, which a FITS answer does not use and a plain install lacks; the
HTTP layer is still astroquery's (``hips2fitsClass._request``, its session and user agent).
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import PIXEL_SCALE_ARCSEC
from bhb_viewer.core.readers import cutouts

HIPS_ID = "CDS/P/SDSS9/{band}"
MARGIN_PX = 4  # asked beyond the cube on each side, so resampling onto the cube grid never reaches an edge


def payload(band: str, ra: float, dec: float, size: int) -> dict[str, object]:
    """hips2fits parameters for one band's ``size + 2·MARGIN_PX`` square at 0.396″/px centred on (ra, dec)."""
    side = size + 2 * MARGIN_PX
    return {
        "hips": HIPS_ID.format(band=band),
        "width": side,
        "height": side,
        "projection": "TAN",
        "coordsys": "icrs",
        "rotation_angle": 0.0,
        "ra": float(ra),
        "dec": float(dec),
        "fov": side * PIXEL_SCALE_ARCSEC / 3600.0,
        "format": "fits",
    }


def band_image(hdul: fits.HDUList, band: str) -> cutouts.BandImage:
    """One band's hips2fits answer as an image with WCS; BadInputError where the survey has no data there.

    Outside SDSS's footprint a HiPS has no tiles and hips2fits answers NaN or zeros everywhere.
    """
    name = f"SDSS9 HiPS {band} cutout"
    data = None if not hdul or hdul[0].data is None else np.asarray(hdul[0].data, np.float32)
    if data is None or data.ndim != 2:
        raise BadInputError(name, "hips2fits answer without a 2-D image")
    finite = np.isfinite(data)
    if not finite.any() or not np.any(data[finite] != 0):
        raise BadInputError(name, "no SDSS data there (the HiPS is empty at this position)")
    wcs = cutouts.celestial_wcs(hdul[0].header)
    if wcs is None:
        raise BadInputError(name, "hips2fits answer without a celestial WCS")
    return cutouts.BandImage(data, wcs, band, name)
