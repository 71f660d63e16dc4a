"""Survey formats the project has no reader of its own for, parsed by specutils (optional) and gridded by us.

specutils is an optional dependency (``pip install bhb_viewer[formats]``): its loaders know DESI
spectra/coadd files, SDSS-V, MaNGA, 6dFGS, 2dF, GAMA and more, which users of peer tools bring.
The project's own readers come first (SDSS, LAMOST, 1-D FITS); only files none of them
recognises are offered to specutils, and only to its survey-specific loaders: its generic ones
(tabular FITS, 1-D WCS, ASCII) would claim any table, a catalog included.

A multi-arm file (DESI b/r/z) becomes one spectrum: arms sorted by wavelength, each trimmed where
the previous one already covers it. Rows of a 2-D flux (several targets) are separate spectra.
Wavelengths are taken as vacuum: the survey formats with loaders here (DESI, SDSS, MaNGA, GAMA,
6dFGS, 2dF) publish vacuum or say otherwise in their own headers, which specutils does not expose.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bhb_viewer.core.errors import BadInputError

log = logging.getLogger(__name__)

GENERIC_LOADERS = ("tabular-fits", "wcs1d-fits", "ascii", "ecsv", "iraf", "multispec", "generic", "jwst")
NOMINAL_RESOLUTION = {"desi": (3500.0, "DESI nominal (R 2000–5500 across its arms)")}


def available() -> bool:
    """specutils is importable (checked without importing it: that takes a second)."""
    return importlib.util.find_spec("specutils") is not None


def _survey_formats(path: str | os.PathLike) -> list[str]:
    if not available():
        return []
    from astropy.io import registry
    from specutils import SpectrumList

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            formats = registry.identify_format("read", SpectrumList, str(path), None, [], {})
        except Exception as exc:  # an identifier that chokes on an odd file: not a format of this file
            log.debug("specutils could not identify %s: %s", path, exc)
            return []
    return [f for f in formats if not any(g in f.lower() for g in GENERIC_LOADERS)]


def identifies(path: str | os.PathLike) -> bool:
    """A survey-specific specutils loader claims the file."""
    return bool(path) and bool(_survey_formats(path))


def read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, list[dict[str, Any]]]:
    """(log10 λ, flux rows, ivar rows, bad-pixel rows, metas) of a file a specutils survey loader reads."""
    from astropy import units as u
    from astropy.nddata import InverseVariance
    from specutils import SpectrumList

    formats = _survey_formats(path)
    if not formats:
        raise BadInputError(path, "no specutils survey loader recognises this file")
    fmt = formats[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            arms = SpectrumList.read(str(path), format=fmt)
        except Exception as exc:  # a loader's own failure on a broken file
            raise BadInputError(path, f"specutils ({fmt}) cannot read it: {type(exc).__name__}: {exc}") from exc
    parts, last = [], -np.inf
    for arm in sorted(arms, key=lambda s: float(s.spectral_axis.to_value(u.AA, u.spectral())[0])):
        wave = arm.spectral_axis.to_value(u.AA, u.spectral())
        keep = wave > last
        flux = np.atleast_2d(np.asarray(arm.flux.value, float))[:, keep]
        ivar = None
        if arm.uncertainty is not None:
            ivar = np.atleast_2d(np.asarray(arm.uncertainty.represent_as(InverseVariance).array, float))[:, keep]
        mask = None if arm.mask is None else np.atleast_2d(np.asarray(arm.mask, bool))[:, keep]
        parts.append((wave[keep], flux, ivar, mask))
        last = wave[keep][-1] if keep.any() else last
    if not parts:
        raise BadInputError(path, f"specutils ({fmt}) found no spectrum in it")
    wave = np.concatenate([p[0] for p in parts])
    flux = np.concatenate([p[1] for p in parts], axis=1)
    ivar = None if any(p[2] is None for p in parts) else np.concatenate([p[2] for p in parts], axis=1)
    mask = None if any(p[3] is None for p in parts) else np.concatenate([p[3] for p in parts], axis=1)
    resolution, source = next((v for k, v in NOMINAL_RESOLUTION.items() if k in fmt.lower()), (None, ""))
    meta = {"specutils_format": fmt, "wavelength_medium": "vacuum (assumed for specutils survey formats)",
            "resolution": resolution, "resolution_source": source}
    n = flux.shape[0]
    squeeze = (lambda a: a[0]) if n == 1 else (lambda a: a)
    return (
        np.log10(wave), squeeze(flux), None if ivar is None else squeeze(ivar), None if mask is None else squeeze(mask),
        [dict(meta) for _ in range(n)],
    )
