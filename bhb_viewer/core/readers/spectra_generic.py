"""1-D FITS spectra with the wavelength solution in the header (IRAF style): stellar libraries and the like.

Layout read: flux in the primary HDU (or the first image HDU with data) as a 1-D array or an
image whose first row is the flux; IRAF ``BANDIDn`` keywords name the other rows (a row whose
band says sigma/error is the 1σ error). An error, variance or inverse-variance extension of the
same length (EXTNAME ERR/ERROR/SIGMA/NOISE, VAR/VARIANCE, IVAR/INVVAR/IVARIANCE) is used too.

Wavelength of pixel p (1-based): x = CRVAL1 + CDELT1·(p − CRPIX1) (CD1_1 when CDELT1 is absent,
CRPIX1 = 1 by default); DC-FLAG = 1 means x is log10 λ (IRAF's log-linear), CTYPE1 '…-LOG' the
FITS-standard logarithmic axis λ = CRVAL1·exp(CDELT1·(p − CRPIX1)/CRVAL1); CUNIT1 (or IRAF's
WAT1_001 ``units=``) nm or m are converted to Å.

Air or vacuum: CTYPE1 'AWAV' says air and 'WAVE' vacuum (FITS WCS paper III); keywords AIRORVAC
/ VACUUM say so too. With none of these, **air is assumed**: IRAF-style 1-D spectra come from
ground-based reductions calibrated against arc lamps with air wavelengths, and the stellar
libraries read this way (STELIB, MILES, ELODIE, Indo-US) publish air wavelengths. Air is
converted to vacuum (the grid is vacuum) with the refractive index of dry air at 15 °C of the
VALD/Piskunov formula (Ciddor 1996 based); the choice is kept in ``meta["wavelength_medium"]``.

Resolution: a header resolving power (SPEC_RES, ESO's keyword; RESOLUTN) when given, else the
sampling's upper limit λ/(2Δλ) at the window's centre (a Nyquist-sampled spectrum cannot resolve
more), labelled as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from bhb_viewer.core.errors import BadInputError

ERROR_NAMES = ("ERR", "ERROR", "ERRORS", "SIGMA", "NOISE", "STDDEV")
VARIANCE_NAMES = ("VAR", "VARIANCE")
IVAR_NAMES = ("IVAR", "INVVAR", "IVARIANCE", "INV_VAR")
MAX_ROWS = 4  # an image with more rows is a picture or a plate of spectra, not one spectrum
UNIT_TO_ANGSTROM = {"angstrom": 1.0, "angstroms": 1.0, "a": 1.0, "nm": 10.0, "nanometer": 10.0, "nanometers": 10.0,
                    "um": 1e4, "micron": 1e4, "microns": 1e4, "m": 1e10}
WINDOW_CENTRE_A = 6500.0  # where a sampling-limited resolving power is quoted


def _flux_hdu(hdul: fits.HDUList):
    return next((h for h in hdul if h.is_image and h.header.get("NAXIS", 0) in (1, 2)
                 and h.header.get("NAXIS1", 0) > 1), None)


def is_generic_1d(hdul: fits.HDUList) -> bool:
    """A 1-D spectrum (or ≤ 4 rows) with a linear/log-linear spectral axis in its header, not a sky image."""
    hdu = _flux_hdu(hdul)
    if hdu is None:
        return False
    head = hdu.header
    rows = head.get("NAXIS2", 1) if head.get("NAXIS") == 2 else 1
    ctype = str(head.get("CTYPE1", "")).upper()
    celestial = ctype.startswith(("RA", "DEC", "GLON", "GLAT", "ELON", "ELAT"))
    return "CRVAL1" in head and ("CDELT1" in head or "CD1_1" in head) and rows <= MAX_ROWS and not celestial


def air_to_vacuum(wave_air: np.ndarray) -> np.ndarray:
    """Vacuum wavelengths (Å) from air ones, dry air at 15 °C, 1 atm (VALD / Piskunov, Ciddor 1996 based)."""
    wave_air = np.asarray(wave_air, float)
    s2 = (1e4 / wave_air) ** 2
    n = 1 + 8.336624212083e-5 + 2.408926869968e-2 / (130.1065924522 - s2) + 1.599740894897e-4 / (38.92568793293 - s2)
    return wave_air * n


def header_wavelength(head: fits.Header, npix: int, path: Path | str = "") -> np.ndarray:
    """Wavelength (Å, as the file states it: air or vacuum) of each pixel from CRVAL1/CDELT1/CRPIX1/DC-FLAG."""
    step = head.get("CDELT1", head.get("CD1_1"))
    crval = head.get("CRVAL1")
    if crval is None or step is None or float(step) == 0:
        raise BadInputError(
            path, "no wavelength solution: CRVAL1 and CDELT1 (or CD1_1) are required and the step must not be 0"
        )
    p = np.arange(1, npix + 1, dtype=float)
    crpix = float(head.get("CRPIX1", 1.0))
    x = float(crval) + float(step) * (p - crpix)
    if int(head.get("DC-FLAG", 0)) == 1:
        wave = 10.0**x
    elif str(head.get("CTYPE1", "")).upper().endswith("-LOG"):
        wave = float(crval) * np.exp(float(step) * (p - crpix) / float(crval))
    else:
        wave = x
    return wave * _unit_factor(head, path)


def _unit_factor(head: fits.Header, path) -> float:
    unit = str(head.get("CUNIT1", "")).strip().lower()
    if not unit:
        wat = str(head.get("WAT1_001", "")).lower()
        unit = wat.split("units=", 1)[1].split()[0] if "units=" in wat else "angstrom"
    if unit not in UNIT_TO_ANGSTROM:
        raise BadInputError(path, f"wavelength unit {unit!r} (CUNIT1) is not one of Å, nm, µm, m")
    return UNIT_TO_ANGSTROM[unit]


def wavelength_medium(head: fits.Header) -> tuple[str, str]:
    """('air' or 'vacuum', why) from CTYPE1 and the usual keywords; air when nothing says (see module doc)."""
    ctype = str(head.get("CTYPE1", "")).upper()
    if ctype.startswith("AWAV"):
        return "air", "CTYPE1 AWAV"
    if ctype.startswith("WAVE"):
        return "vacuum", "CTYPE1 WAVE"
    for key in ("AIRORVAC", "AIRVAC", "WAVEMED"):
        value = str(head.get(key, "")).strip().lower()
        if value.startswith("vac"):
            return "vacuum", key
        if value.startswith("air"):
            return "air", key
    if "VACUUM" in head:
        return ("vacuum", "VACUUM = T") if bool(head["VACUUM"]) else ("air", "VACUUM = F")
    return "air", "assumed: no keyword says; IRAF-style spectra and stellar libraries are calibrated in air"


def _rows(hdu) -> tuple[np.ndarray, np.ndarray | None]:
    """Flux and, when a row's BANDID names it, the 1σ error row."""
    data = np.asarray(hdu.data, float)
    if data.ndim == 1:
        return data, None
    head = hdu.header
    bands = [str(head.get(f"BANDID{i + 1}", "")).lower() for i in range(data.shape[0])]
    err_row = next((i for i, b in enumerate(bands) if "sigma" in b or "error" in b), None)
    return data[0], None if err_row is None else data[err_row]


def _error_extension(hdul: fits.HDUList, npix: int) -> tuple[np.ndarray | None, str]:
    for hdu in hdul[1:]:
        if not hdu.is_image or hdu.data is None or np.size(hdu.data) != npix:
            continue
        name = hdu.name.upper()
        kind = (
            "sigma"
            if name in ERROR_NAMES
            else "var"
            if name in VARIANCE_NAMES
            else "ivar"
            if name in IVAR_NAMES
            else None
        )
        if kind:
            return np.asarray(hdu.data, float).ravel(), kind
    return None, ""


def _ivar(flux_hdu, hdul: fits.HDUList, npix: int) -> np.ndarray | None:
    _, err = _rows(flux_hdu)
    kind = "sigma" if err is not None else ""
    if err is None:
        err, kind = _error_extension(hdul, npix)
    if err is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "ivar":
            ivar = err
        elif kind == "var":
            ivar = 1.0 / err
        else:
            ivar = 1.0 / err**2
    return np.where(np.isfinite(ivar) & (ivar > 0), ivar, 0.0)


def _resolution(head: fits.Header, wave: np.ndarray) -> dict[str, Any]:
    for key in ("SPEC_RES", "RESOLUTN", "RESPOWER"):
        if key in head:
            try:
                return {"resolution": float(head[key]), "resolution_source": f"header {key}"}
            except (TypeError, ValueError):
                pass
    i = int(np.clip(np.searchsorted(wave, WINDOW_CENTRE_A), 1, wave.size - 1))
    step = abs(wave[i] - wave[i - 1])
    if step <= 0:
        return {}
    return {"resolution": round(float(wave[i] / (2 * step)), 1), "resolution_source": "sampling (upper limit λ/2Δλ)",
            "resolution_is_upper_limit": True}


def read(
    hdul: fits.HDUList, path: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, None, list[dict[str, Any]]]:
    """(log10 vacuum λ, flux, ivar or None, no mask, [meta]) of a 1-D FITS spectrum."""
    hdu = _flux_hdu(hdul)
    if hdu is None or hdu.data is None:
        raise BadInputError(path, "1-D spectrum file without flux data")
    flux, _ = _rows(hdu)
    head = hdu.header
    wave = header_wavelength(head, flux.size, path)
    ivar = _ivar(hdu, hdul, flux.size)
    medium, why = wavelength_medium(head)
    vac = air_to_vacuum(wave) if medium == "air" else wave
    if np.any(vac <= 0):
        raise BadInputError(path, f"wavelength solution gives non-positive wavelengths ({vac.min():.4g} Å)")
    if vac[-1] < vac[0]:  # a negative step: reverse so the axis increases
        vac, flux, ivar = vac[::-1], flux[::-1], None if ivar is None else ivar[::-1]
    primary = hdul[0].header
    meta: dict[str, Any] = {
        "ra": _float_or_none(primary.get("RA", head.get("RA"))),
        "dec": _float_or_none(primary.get("DEC", head.get("DEC"))),
        "object": str(primary.get("OBJECT", head.get("OBJECT", ""))).strip() or None,
        "wavelength_medium": f"{medium} ({why})",
        **_resolution(head, vac),
    }
    return np.log10(vac), flux, ivar, None, [meta]


def _float_or_none(value) -> float | None:
    """RA/Dec only when given in degrees as numbers (sexagesimal strings are left to the catalog)."""
    try:
        return float(value) if value is not None and not isinstance(value, str) else None
    except (TypeError, ValueError):
        return None
