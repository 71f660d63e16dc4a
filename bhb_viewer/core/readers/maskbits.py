"""Which pixel-mask bits mean a bad pixel, per survey, so a reader masks those and no others.

SDSS (SPPIXMASK, sdss3.org/dr8/algorithms/bitmask_sppixmask.php): bits 0–15 describe the fibre,
16–31 the pixel. Many are warnings, not failures: MANYBADCOLUMNS (4) marks half a spectrum when
10 % of its columns are bad, NEARBADPIXEL (16) a pixel *near* a bad one, BRIGHTSKY (23) bright sky,
and DR7's spectro1d sets bit 30 on emission lines. SDSS itself sets ivar = 0 where a pixel is
truly bad. Masking on any non-zero bit kept 1,441 of the 3,522 window pixels of the real DR7
spSpec-53166-1615-104 whose error is positive at 3,420; masking on the bits below keeps 3,420.

LAMOST low-resolution (andmask/ormask, LAMOST data-release docs): 1 BADCCD, 2 BADPROFILE,
4 NOSKY, 8 BRIGHTSKY, 16 BADCENTER, 32 NODATA. Bad pixels are BADCCD, BADPROFILE, NOSKY and
NODATA; BRIGHTSKY and BADCENTER are warnings, as in SDSS.
"""

from __future__ import annotations

import numpy as np

SDSS_BAD_BITS = {
    "NOPLUG": 0,  # fibre not in the plug map
    "BADTRACE": 1,
    "BADFLAT": 2,
    "BADARC": 3,
    "FULLREJECT": 18,  # pixel fully rejected in extraction (INVVAR=0)
    "NOSKY": 22,  # sky level unknown (INVVAR=0)
    "NODATA": 24,  # no data in the combine B-spline (INVVAR=0)
    "COMBINEREJ": 25,  # rejected in the combine B-spline
}
LAMOST_BAD_BITS = {"BADCCD": 0, "BADPROFILE": 1, "NOSKY": 2, "NODATA": 5}


def _bits(named: dict[str, int]) -> int:
    return sum(1 << b for b in named.values())


SDSS_BAD_MASK = _bits(SDSS_BAD_BITS)
LAMOST_BAD_MASK = _bits(LAMOST_BAD_BITS)


def bad_pixels(mask: np.ndarray | None, bad_mask: int = SDSS_BAD_MASK) -> np.ndarray | None:
    """True where ``mask`` (an AND mask, any integer or float dtype) has one of the bad-pixel bits."""
    if mask is None:
        return None
    m = np.asarray(mask)
    m = np.where(np.isfinite(m), m, 0).astype(np.int64) if m.dtype.kind == "f" else m.astype(np.int64)
    return (m & bad_mask) != 0
