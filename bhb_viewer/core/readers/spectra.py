"""SDSS spectrum files onto the fixed BATMM grid (3522 pixels, log10 λ from 3.6021, step 1e-4).

Readers: ``spec-*.fits`` (lite and full; COADD table with loglam/flux/ivar/and_mask), DR7
``spSpec`` (flux, continuum-subtracted flux, error and mask rows in the primary image,
COEFF0/COEFF1 grid) and multi-fiber ``spPlate`` (one fiber per row, COEFF0/COEFF1 grid,
optional inverse-variance and AND-mask HDUs, optional plug-map table).

Other surveys' files are read by their own modules and gridded here alike: LAMOST low-resolution
spectra (core.readers.spectra_lamost), IRAF-style 1-D FITS spectra with a linear or log-linear wavelength
solution, e.g. stellar libraries (core.readers.spectra_generic), and, when specutils is installed, any
format it has a loader for (core.readers.spectra_specutils). Every reader hands over vacuum wavelengths.

Gridding keeps pixels as they are when the file is on the SDSS grid (pixel centres at an
integer offset from 3.6021 within :data:`ALIGN_TOL_PX`) and interpolates linearly otherwise.
Pixels with ivar == 0 or a bad-pixel bit in the AND mask (core.readers.maskbits: SDSS's published
bad-pixel bits, not warnings such as BRIGHTSKY) are masked (ivar set to 0).

Every accepted spectrum's meta carries ``valid_fraction`` (valid window pixels / 3522),
``resolution`` (resolving power, with ``resolution_source``) and ``flags`` (core.readers.quality's
warnings: too few valid pixels for a reliable score, a resolution far from SDSS's).

Rejected, with the reason, as the paper drops them (§5.2): a spectrum whose file does not cover
the whole 4000–9000 Å window, one with NaN/inf flux at unmasked pixels in the window, and one
whose inverse variance is zero across the window. Masked pixels inside a covered window are kept
(ivar 0) by default: SDSS masks a few pixels in most spectra and the paper's count is of pixels
present; ``min_valid=NPIX`` asks for every pixel unmasked instead. ``partial=True`` accepts a
spectrum that covers only part of the window (uncovered pixels masked), for viewing and scoring
files such as a MILES spectrum that stops at 7500 Å; its low ``valid_fraction`` marks the score.
A file with no inverse variance (e.g. a flux-only spPlate) counts every finite pixel as valid
(``meta["ivar_known"] = False``) with ivar = 1/σ², σ the spectrum's own pixel-to-pixel noise
(DER_SNR), so fits weigh it in its own units (ivar = 1 against fluxes of 1e-13 made every Balmer fit
fail), except pixels of exactly zero flux: with no errors to say otherwise, those are the
zero-filled gaps stellar libraries write, so they are masked and lower ``valid_fraction``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import DLOGLAM, LOGLAM0, NPIX
from bhb_viewer.core.grid import loglam as grid_loglam
from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.readers import spectra_generic, spectra_lamost, spectra_specutils
from bhb_viewer.core.readers.candidates import as_uint64, pmf_id
from bhb_viewer.core.readers.fitsfile import open_fits
from bhb_viewer.core.readers.maskbits import bad_pixels
from bhb_viewer.core.readers.quality import SDSS_RESOLUTION, quality_flags, resolution_from_dispersion, valid_fraction

ALIGN_TOL_PX = 0.01  # float32 loglam near 3.6 is good to ~0.003 px
WINDOW = "4000–9000 Å window"  # the paper's name for the grid's 4000.4–8999.4 Å
FITS_SUFFIX = re.compile(r"\.(fits?|fts)(\.gz|\.bz2)?$", re.IGNORECASE)  # what a spectrum's id drops from its file name


@dataclass
class GridSpectrum:
    """One spectrum on the grid: flux (1e-17 erg/s/cm²/Å) and ivar (0 where masked), float32."""

    id: str
    flux: np.ndarray
    ivar: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> np.ndarray:
        return self.ivar > 0

    @property
    def valid_fraction(self) -> float:
        """Valid window pixels / NPIX: carried with every score made on this spectrum (core.readers.quality)."""
        return float(self.meta.get("valid_fraction", valid_fraction(self.ivar)))


@dataclass
class SpectrumBatch:
    """What one file (or many) gave: accepted spectra and (id or path, reason) for each rejection."""

    spectra: list[GridSpectrum] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.spectra)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.spectra]

    def stack(self) -> tuple[np.ndarray, np.ndarray]:
        """N×NPIX float32 flux and ivar, the layout of a data set's spectra.npy / ivar.npy."""
        if not self.spectra:
            empty = np.zeros((0, NPIX), np.float32)
            return empty, empty.copy()
        return np.stack([s.flux for s in self.spectra]), np.stack([s.ivar for s in self.spectra])

    def extend(self, other: SpectrumBatch) -> None:
        self.spectra.extend(other.spectra)
        self.rejected.extend(other.rejected)


@dataclass
class Gridded:
    """Output of :func:`to_grid` for a stack of spectra sharing one wavelength array."""

    flux: np.ndarray  # (..., NPIX) float32, finite
    ivar: np.ndarray  # (..., NPIX) float32, 0 where masked or uncovered
    covered: np.ndarray  # (NPIX,) bool: the file has data at this grid pixel
    nonfinite: np.ndarray  # (...,) int: NaN/inf flux at unmasked covered pixels
    aligned: bool


def minmax_scale(flux: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Eq. 16: (x − min) / (max − min) along the last axis, float32 in [0, 1].

    With ``valid`` the extremes come from valid pixels only (masked ones are clipped), so one bad
    pixel cannot flatten the spectrum. A constant spectrum scales to zeros.
    """
    x = np.asarray(flux, dtype=np.float32)
    if valid is None:
        lo, hi = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
    else:
        valid = np.asarray(valid, bool)
        lo = np.where(valid, x, np.inf).min(axis=-1, keepdims=True)
        hi = np.where(valid, x, -np.inf).max(axis=-1, keepdims=True)
        none = ~np.isfinite(lo)
        lo, hi = np.where(none, 0, lo), np.where(none, 0, hi)
    span = hi - lo
    out = (x - lo) / np.where(span > 0, span, 1)
    return np.clip(out, 0, 1).astype(np.float32)


def own_noise(flux: np.ndarray) -> np.ndarray:
    """Per spectrum, the 1σ pixel noise estimated from the flux itself (Stoehr et al. 2008, DER_SNR),
    over finite non-zero pixels; floored at 1e-4 of the median ``|flux|`` so a noise-free model stays finite."""
    flux = np.atleast_1d(np.asarray(flux, dtype=np.float64))
    rows = flux.reshape(-1, flux.shape[-1])
    out = np.ones(len(rows))
    for i, row in enumerate(rows):
        f = row[np.isfinite(row) & (row != 0)]
        if f.size < 5:
            continue
        level = float(np.median(np.abs(f)))
        sigma = 1.482602 / np.sqrt(6.0) * float(np.median(np.abs(2.0 * f[2:-2] - f[:-4] - f[4:])))
        out[i] = max(sigma, 1e-4 * level) if level > 0 else 1.0
    return out.reshape(flux.shape[:-1])


def to_grid(
    loglam: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray | None = None,
    and_mask: np.ndarray | None = None,
) -> Gridded:
    """Put spectra (last axis = pixels, one shared ``loglam``) on the fixed grid, vectorised.

    ``ivar=None`` means the file has none: every finite non-zero pixel is valid, with the inverse
    variance of the spectrum's own noise (:func:`own_noise`). ``and_mask`` is
    non-zero where a pixel is bad: readers pass core.readers.maskbits.bad_pixels of their file's mask.
    """
    loglam = np.asarray(loglam, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    if loglam.ndim != 1 or flux.shape[-1] != loglam.size:
        raise ValueError(f"loglam ({loglam.shape}) and flux ({flux.shape}) disagree in length")
    finite = np.isfinite(flux)
    if ivar is None:  # no errors: exactly-zero flux is a zero-filled gap (libraries write them), not data
        iv = np.where(flux != 0, 1.0, 0.0) / own_noise(flux)[..., None] ** 2
    else:
        iv = np.asarray(ivar, dtype=np.float64)
        iv = np.where(np.isfinite(iv) & (iv > 0), iv, 0.0)
    if and_mask is not None:
        iv = np.where(np.asarray(and_mask) != 0, 0.0, iv)
    offsets = (loglam - LOGLAM0) / DLOGLAM
    k = np.round(offsets).astype(np.int64)
    aligned = bool(np.all(np.abs(offsets - k) < ALIGN_TOL_PX) and np.all(np.diff(k) > 0))
    shape = (*flux.shape[:-1], NPIX)
    if aligned:
        sel = (k >= 0) & (k < NPIX)
        out_f, out_iv, out_fin = np.zeros(shape), np.zeros(shape), np.zeros(shape, bool)
        out_f[..., k[sel]] = flux[..., sel]
        out_iv[..., k[sel]] = iv[..., sel]
        out_fin[..., k[sel]] = finite[..., sel]
        covered = np.zeros(NPIX, bool)
        covered[k[sel]] = True
    else:
        out_f, out_iv, out_fin, covered = _interpolate(loglam, flux, iv, finite)
    # NaN/inf counts only where the pixel is not otherwise masked; masked ones are filled below
    bad_flux = ~out_fin & (out_iv > 0) & covered
    nonfinite = bad_flux.sum(axis=-1)
    out_iv = np.where(out_fin & covered, out_iv, 0.0)
    out_f = fill_masked(out_f, out_fin | ~covered)
    out_f = np.where(covered, out_f, 0.0)
    return Gridded(out_f.astype(np.float32), out_iv.astype(np.float32), covered, nonfinite, aligned)


def _interpolate(x: np.ndarray, flux: np.ndarray, iv: np.ndarray, finite: np.ndarray):
    """Linear interpolation onto the grid; a grid pixel is masked if either neighbour is."""
    if np.any(np.diff(x) <= 0):
        raise ValueError("loglam must increase")
    g = grid_loglam()
    covered = (g >= x[0] - 1e-9) & (g <= x[-1] + 1e-9)
    j = np.clip(np.searchsorted(x, g, side="right") - 1, 0, x.size - 2)
    w = np.clip((g - x[j]) / (x[j + 1] - x[j]), 0.0, 1.0)
    f0, f1 = np.where(finite[..., j], flux[..., j], 0), np.where(finite[..., j + 1], flux[..., j + 1], 0)
    out_f = f0 * (1 - w) + f1 * w
    # variance of (1-w)·a + w·b; a neighbour with zero weight does not need to be valid
    iv0, iv1 = iv[..., j], iv[..., j + 1]
    need0, need1 = w < 1, w > 0
    ok = (~need0 | (iv0 > 0)) & (~need1 | (iv1 > 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(need0, (1 - w) ** 2 / iv0, 0) + np.where(need1, w**2 / iv1, 0)
        out_iv = np.where(ok & (var > 0), 1.0 / var, 0.0)
    fin = (~need0 | finite[..., j]) & (~need1 | finite[..., j + 1])
    return out_f, np.where(covered, out_iv, 0), fin, covered


def fill_masked(flux: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixels not ``valid`` (or not finite) interpolated linearly from the nearest valid ones along
    the last axis; ends take the nearest valid value, a row without any becomes zeros.

    Rows are filled one by one (few need it); with none to fill ``flux`` itself comes back.
    """
    rows = np.flatnonzero(~valid.reshape(-1, flux.shape[-1]).all(axis=1))
    if rows.size == 0:
        return flux
    flat = flux.reshape(-1, flux.shape[-1]).copy()
    fin = valid.reshape(-1, flux.shape[-1])
    idx = np.arange(flux.shape[-1])
    for r in rows:
        good = fin[r] & np.isfinite(flat[r])
        flat[r] = np.interp(idx, idx[good], flat[r, good]) if good.any() else 0.0
    return flat.reshape(flux.shape)


def read_spectra(path: str | os.PathLike, min_valid: int = 1, partial: bool = False) -> SpectrumBatch:
    """Read one spectrum file (SDSS spec/spSpec/spPlate, LAMOST, 1-D FITS, specutils) onto the grid.

    ``.fits.gz`` / ``.fits.bz2`` are read as the FITS file they hold.

    Parameters
    ----------
    path : str or os.PathLike
        The spectrum file.
    min_valid : int
        Fewest unmasked grid pixels a spectrum needs; ``NPIX`` is the spec's literal rule.
    partial : bool
        Accept spectra that cover only part of the 4000–9000 Å window (the viewer shows them,
        marked by their ``valid_fraction``; data sets refuse them).

    Returns
    -------
    SpectrumBatch
        The spectra on the grid (flux, ivar, ids, per-spectrum metadata) and, in ``rejected``,
        the ones that failed with their reason.

    Raises
    ------
    BadInputError
        When the file cannot be used at all, naming it and the problem.
    """
    path = Path(path)
    with open_fits(path, "spectrum FITS file") as hdul:
        kind = spectrum_kind(hdul, path)
        if kind == "specutils":
            loglam, flux, ivar, mask, metas = spectra_specutils.read(path)
        else:
            loglam, flux, ivar, mask, metas = _READERS[kind](hdul, path)
    try:
        g = to_grid(loglam, flux, ivar, mask)
    except ValueError as exc:
        raise BadInputError(path, str(exc)) from exc
    return _judge(
        path, kind, g, metas, ivar_known=ivar is not None, loglam=loglam, min_valid=min_valid, partial=partial
    )


def read_many_spectra(
    paths: Iterable[str | os.PathLike],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    min_valid: int = 1,
) -> SpectrumBatch:
    """Read many files; an unreadable file is reported in ``rejected`` as (path, problem) and skipped."""
    paths = list(paths)
    out = SpectrumBatch()
    for i, path in enumerate(paths):
        if cancel is not None:
            cancel.check()
        try:
            out.extend(read_spectra(path, min_valid))
        except BadInputError as exc:
            out.rejected.append((str(path), exc.problem))
        progress(
            ProgressEvent(
                "spectra", i + 1, len(paths), str(path), {"accepted": len(out.spectra), "rejected": len(out.rejected)}
            )
        )
    return out


def spectrum_kind(hdul: fits.HDUList, path: str | os.PathLike = "") -> str:
    """'spec', 'spSpec', 'spPlate', 'lamost', '1d' or 'specutils' from the file's layout.

    SDSS and LAMOST layouts are recognised first (a LAMOST image also has COEFF0/COEFF1), then a
    1-D spectrum with a wavelength solution in its header, then whatever specutils can identify;
    BadInputError for anything else.
    """
    if _coadd_hdu(hdul) is not None:
        return "spec"
    if spectra_lamost.is_lamost(hdul):
        return "lamost"
    head = hdul[0].header
    data_shape = tuple(reversed([head.get(f"NAXIS{i}", 0) for i in range(1, head.get("NAXIS", 0) + 1)]))
    if "COEFF0" in head and "COEFF1" in head and len(data_shape) == 2:
        single = "FIBERID" in head and data_shape[0] <= 5
        return "spSpec" if single or Path(path).name.lower().startswith("spspec") else "spPlate"
    if spectra_generic.is_generic_1d(hdul):
        return "1d"
    images = [h for h in hdul if h.is_image and h.header.get("NAXIS", 0) > 0]  # a table-only FITS is a catalog
    sky = any(str(h.header.get("CTYPE1", "")).upper().startswith(("RA-", "GLON", "ELON")) for h in images)
    if images and not sky and spectra_specutils.identifies(path):  # sky images never go to specutils (slow import)
        return "specutils"
    raise BadInputError(
        path,
        "not an SDSS spectrum file, nor a LAMOST or 1-D FITS spectrum: expected a COADD table with loglam/flux "
        "(spec-*.fits), a 2-D primary image with COEFF0/COEFF1 (spSpec, spPlate), a LAMOST file, "
        "or a 1-D spectrum with CRVAL1 and CDELT1 (or CD1_1) in its header"
        + ("" if spectra_specutils.available() else "; other formats need specutils (pip install specutils)"),
    )


def _ttypes(hdu) -> set[str]:
    """Lower-cased column names from the header: cheap, unlike building astropy Column objects."""
    return {str(hdu.header.get(f"TTYPE{i}", "")).lower() for i in range(1, hdu.header.get("TFIELDS", 0) + 1)}


def _coadd_hdu(hdul: fits.HDUList):
    names = [h.name.upper() for h in hdul]
    candidates = [hdul["COADD"]] if "COADD" in names else hdul[1:2]
    for hdu in candidates:
        if isinstance(hdu, fits.BinTableHDU) and {"loglam", "flux"} <= _ttypes(hdu):
            return hdu
    return None


_TFORM = re.compile(r"^\s*(\d*)([LBIJKAED])\s*$")
_TFORM_DTYPE = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}


def _columns(hdu, path: Path) -> dict[str, np.ndarray]:
    """Lower-cased column name -> array of a binary table.

    Plain tables (fixed-width numbers and text, no scaling) are read straight from the file with
    numpy: astropy builds a Column object per column, which costs ~1 ms each, and an SDSS SPALL
    row has hundreds of columns. Anything else goes through astropy.
    """
    head = hdu.header
    dtype = _plain_dtype(head)
    info = hdu.fileinfo()
    plain_file = info is not None and getattr(info["file"], "compression", "unknown") is None  # not .gz/.bz2
    if dtype is not None and dtype.itemsize == head.get("NAXIS1") and plain_file:
        arr = np.fromfile(path, dtype=dtype, count=head.get("NAXIS2", 0), offset=info["datLoc"])
    else:
        arr = hdu.data.view(np.ndarray)
    return {n.lower(): arr[n] for n in arr.dtype.names or ()}


def _plain_dtype(head: fits.Header) -> np.dtype | None:
    """The record dtype of a plain binary table (fixed-width numbers and text, no scaling, no repeated
    name), or None when the table is not plain."""
    fields: list[tuple[Any, ...]] = []
    for i in range(1, head.get("TFIELDS", 0) + 1):
        form = _TFORM.match(str(head.get(f"TFORM{i}", "")))
        name = str(head.get(f"TTYPE{i}", f"col{i}")).strip()
        if form is None or f"TSCAL{i}" in head or f"TZERO{i}" in head:
            return None
        if any(name.lower() == f[0].lower() for f in fields):
            return None
        repeat, code = int(form.group(1) or 1), form.group(2)
        if code == "A":
            fields.append((name, f"S{repeat}"))
        elif repeat != 1:
            fields.append((name, _TFORM_DTYPE[code], (repeat,)))
        else:
            fields.append((name, _TFORM_DTYPE[code]))
    return np.dtype(fields) if fields else None


def _scalar(value):
    value = value.item() if hasattr(value, "item") else value
    return value.decode().strip() if isinstance(value, bytes) else value


def _read_spec(hdul, path):
    cols = _columns(_coadd_hdu(hdul), path)
    head = hdul[0].header
    meta = {"plate": head.get("PLATEID"), "mjd": head.get("MJD"), "fiber": head.get("FIBERID"),
            "ra": head.get("PLUG_RA"), "dec": head.get("PLUG_DEC")}
    info = next((h for h in hdul[2:3] if isinstance(h, fits.BinTableHDU) and h.header.get("NAXIS2")), None)
    if info is not None:  # SPALL / SPECOBJ row
        row = _columns(info, path)
        for key, col in (("plate", "plate"), ("mjd", "mjd"), ("fiber", "fiberid"), ("ra", "plug_ra"),
                         ("dec", "plug_dec"), ("z", "z"), ("specobjid", "specobjid"), ("class", "class")):
            if col in row:
                meta[key] = _scalar(row[col][0])
    if meta.get("specobjid") is not None:  # a 22-character string in real SPECOBJ rows, > 2**63
        meta["specobjid"] = as_uint64(meta["specobjid"])
    if "wdisp" in cols:
        meta.update(_dispersion_resolution(cols["loglam"], cols["wdisp"], cols.get("ivar")))
    else:
        meta.update(resolution=SDSS_RESOLUTION, resolution_source="SDSS nominal")
    return cols["loglam"], cols["flux"], cols.get("ivar"), bad_pixels(cols.get("and_mask")), [meta]


def _dispersion_resolution(loglam: np.ndarray, wdisp: np.ndarray, ivar: np.ndarray | None) -> dict[str, Any]:
    """Resolving power from SDSS's per-pixel line-spread σ (pixels) over the window's valid pixels."""
    loglam = np.asarray(loglam, float)
    use = (loglam >= LOGLAM0) & (loglam <= LOGLAM0 + DLOGLAM * (NPIX - 1))
    if ivar is not None:
        use &= np.asarray(ivar) > 0
    r = resolution_from_dispersion(np.asarray(wdisp)[use], DLOGLAM)
    if r is None:
        return {"resolution": SDSS_RESOLUTION, "resolution_source": "SDSS nominal"}
    return {"resolution": round(r, 1), "resolution_source": "line-spread width in the file"}


def _coeff_loglam(head, npix: int, path) -> np.ndarray:
    c0, c1 = head.get("COEFF0"), head.get("COEFF1")
    if c0 is None or c1 is None:
        raise BadInputError(path, "COEFF0/COEFF1 missing from the header: no wavelength grid")
    return float(c0) + float(c1) * np.arange(npix)


def _read_spspec(hdul, path):
    data = hdul[0].data
    if data is None or data.ndim != 2 or data.shape[0] < 3:
        raise BadInputError(
            path,
            "spSpec primary image must have flux/continuum/error "
            f"rows, got shape {None if data is None else data.shape}",
        )
    head = hdul[0].header
    err = data[2].astype(np.float64)
    with np.errstate(divide="ignore"):
        ivar = np.where(np.isfinite(err) & (err > 0), 1.0 / err**2, 0.0)
    bad = bad_pixels(data[3]) if data.shape[0] > 3 else None
    meta = {"plate": head.get("PLATEID"), "mjd": head.get("MJD"), "fiber": head.get("FIBERID"),
            "ra": head.get("RAOBJ"), "dec": head.get("DECOBJ"), "z": head.get("Z")}
    loglam = _coeff_loglam(head, data.shape[1], path)
    disp = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU) and "dispersion" in _ttypes(h)
                 and h.header.get("NAXIS2") == data.shape[1]), None)  # DR7: HDU 6 andMask/orMask/dispersion
    if disp is not None:
        meta.update(_dispersion_resolution(loglam, _columns(disp, path)["dispersion"], ivar))
    else:
        meta.update(resolution=SDSS_RESOLUTION, resolution_source="SDSS nominal")
    return loglam, data[0], ivar, bad, [meta]


def _image_hdu(hdul, names: Sequence[str], index: int, shape) -> np.ndarray | None:
    """The HDU called one of ``names``, else the one at ``index`` if it is an image of ``shape``."""
    for hdu in hdul[1:]:
        if hdu.name.upper() in names and hdu.data is not None:
            return np.asarray(hdu.data)
    if len(hdul) > index and hdul[index].is_image and hdul[index].data is not None and hdul[index].data.shape == shape:
        return np.asarray(hdul[index].data)
    return None


def _read_spplate(hdul, path):
    data = hdul[0].data
    if data is None or data.ndim != 2:
        raise BadInputError(path, "spPlate primary image must be fibers × pixels")
    head = hdul[0].header
    ivar = _image_hdu(hdul, ("IVAR", "INVVAR"), 1, data.shape)
    mask = _image_hdu(hdul, ("ANDMASK",), 2, data.shape)
    plug = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU) and h.header.get("NAXIS2") == data.shape[0]
                 and {"ra", "dec"} <= _ttypes(h)), None)
    fibers = np.arange(1, data.shape[0] + 1)
    ra = dec = [None] * data.shape[0]
    if plug is not None:
        cols = _columns(plug, path)
        ra, dec = cols["ra"].tolist(), cols["dec"].tolist()
        fibers = cols.get("fiberid", fibers)
    plate, mjd = head.get("PLATEID"), head.get("MJD")
    metas = [{"plate": plate, "mjd": mjd, "fiber": int(f), "ra": r, "dec": d, "resolution": SDSS_RESOLUTION,
              "resolution_source": "SDSS nominal"} for f, r, d in zip(fibers, ra, dec, strict=True)]
    return _coeff_loglam(head, data.shape[1], path), data, ivar, bad_pixels(mask), metas


_READERS = {"spec": _read_spec, "spSpec": _read_spspec, "spPlate": _read_spplate,
            "lamost": spectra_lamost.read, "1d": spectra_generic.read}


def _judge(path: Path, kind: str, g: Gridded, metas: list[dict], ivar_known: bool, loglam: np.ndarray, min_valid: int,
           partial: bool = False) -> SpectrumBatch:
    flux = g.flux.reshape(-1, NPIX)
    ivar = g.ivar.reshape(-1, NPIX)
    nonfinite = np.atleast_1d(g.nonfinite)
    n_valid = (ivar > 0).sum(axis=1)
    n_covered = int(g.covered.sum())
    batch = SpectrumBatch()
    for i, meta in enumerate(metas):
        meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items() if v is not None}
        sid = _spectrum_id(path, meta, i, len(metas))
        if n_covered < NPIX and not (partial and n_covered > 0):
            lo, hi = 10 ** loglam[0], 10 ** loglam[-1]
            batch.rejected.append(
                (sid, f"covers {n_covered} of {NPIX} pixels of the {WINDOW} (file spans {lo:.0f}–{hi:.0f} Å)")
            )
        elif nonfinite[i]:
            batch.rejected.append((sid, f"{int(nonfinite[i])} NaN/inf flux values in the {WINDOW}"))
        elif n_valid[i] == 0:
            batch.rejected.append((sid, f"inverse variance is zero across the {WINDOW}"))
        elif n_valid[i] < min_valid:
            batch.rejected.append(
                (sid, f"{int(n_valid[i])} of {NPIX} pixels valid (ivar > 0, AND mask clear), {min_valid} required")
            )
        else:
            meta.update(
                source=str(path), format=kind, aligned=g.aligned, n_valid=int(n_valid[i]), ivar_known=ivar_known,
                valid_fraction=round(int(n_valid[i]) / NPIX, 4),
            )
            meta["flags"] = quality_flags(meta)
            batch.spectra.append(GridSpectrum(sid, flux[i], ivar[i], meta))
    return batch


def _spectrum_id(path: Path, meta: dict, index: int, count: int) -> str:
    """plate-mjd-fiber where the file says them, else the file's stem (``#n`` for the n-th of several)."""
    if all(meta.get(k) is not None for k in ("plate", "mjd", "fiber")):
        return pmf_id(meta["plate"], meta["mjd"], meta["fiber"])
    stem = FITS_SUFFIX.sub("", path.name)
    return stem if count == 1 else f"{stem}#{index + 1}"


@dataclass
class NativeSpectrum:
    """One spectrum over the file's own wavelength range, not gridded: what a person looks at
    (BOSS files reach 3,600–10,400 Å, beyond the model's window). ``ivar`` is 0 where masked."""

    id: str
    wavelength: np.ndarray  # vacuum Å
    flux: np.ndarray
    ivar: np.ndarray


def read_native_spectra(path: str | os.PathLike) -> list[NativeSpectrum]:
    """Every spectrum of an SDSS file (spec, spSpec, spPlate) as the file has it, with the ids
    :func:`read_spectra` gives them; masks as there (ivar 0, AND mask set, non-finite flux).

    For display only: nothing is judged or rejected here. BadInputError if the file is unusable.
    """
    path = Path(path)
    with open_fits(path, "SDSS spectrum FITS file") as hdul:
        kind = spectrum_kind(hdul, path)
        loglam, flux, ivar, mask, metas = _READERS[kind](hdul, path)
        loglam = np.array(loglam, dtype=np.float64)
        flux = np.atleast_2d(np.array(flux, dtype=np.float64))  # copies: the file closes below
        ivar = np.ones_like(flux) if ivar is None else np.atleast_2d(np.array(ivar, dtype=np.float64))
        bad = ~np.isfinite(flux) | ~np.isfinite(ivar)
        if mask is not None:
            bad |= np.atleast_2d(np.asarray(mask)) != 0
    ivar = np.where(bad, 0.0, np.maximum(ivar, 0.0))
    wave = 10.0**loglam
    out = []
    for i, meta in enumerate(metas):
        meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in meta.items() if v is not None}
        out.append(NativeSpectrum(_spectrum_id(path, meta, i, len(metas)), wave, flux[i], ivar[i]))
    return out
