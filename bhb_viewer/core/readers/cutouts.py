"""5-band u,g,r,i,z cutout cubes centred on a star, their FITS files, and display stretches.

Each band is placed by its own WCS: the output grid is a TAN projection centred exactly on the
target (pixel ((N−1)/2, (N−1)/2), i.e. between the four middle pixels of an even-sized cube) with
the reference band's pixel scale and orientation; every band is resampled onto it with bilinear
interpolation. SDSS bands of one field are offset from one another by up to a few pixels, so a
plain array slice would put the star in a different place in each band.

Where the frame ends the cube is padded with 0 and flagged in ``mask``; pixels are nanomaggies,
as in SDSS ``frame`` files, and stay unscaled (scaling belongs to the model's checkpoint).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.nddata import Cutout2D, NoOverlapError
from astropy.visualization import AsinhStretch, LinearStretch, MinMaxInterval, PercentileInterval
from astropy.wcs import WCS, FITSFixedWarning
from scipy.ndimage import map_coordinates

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.files import write_atomic
from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE
from bhb_viewer.core.readers.fitsfile import open_fits

REFERENCE_BAND = "r"  # SDSS astrometry is tied to r
STRETCHES = ("linear", "asinh", "zscale")
_BAND_IN_NAME = re.compile(r"(?:^|[-_])([ugriz])(?=[-_.])")
_WCS_KEY = re.compile(
    r"^(WCSAXES|NAXIS\d?|CTYPE\d|CRVAL\d|CRPIX\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|"
    r"LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|MJD-OBS|DATE-OBS|(A|B|AP|BP)_(ORDER|\d+_\d+))$"
)


@dataclass
class BandImage:
    """One band's pixels (nanomaggies) and the WCS that places them."""

    data: np.ndarray
    wcs: WCS
    band: str
    source: str = ""


@dataclass
class Cube:
    """A bands×N×N float32 cube (0 where masked), its mask (True = no data) and the output WCS."""

    data: np.ndarray
    mask: np.ndarray
    wcs: WCS
    bands: tuple[str, ...] = BANDS
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.data.shape[-1])


def centre_pixel(size: int) -> float:
    """0-based pixel coordinate (x and y) where the target sits in a size×size cube."""
    return (size - 1) / 2


def celestial_wcs(header: fits.Header) -> WCS | None:
    """The 2-D celestial WCS of a header, or None.

    Only the WCS keywords are handed to astropy: it re-verifies every card of the header it is
    given, which costs more than the whole resampling for a 50-card SDSS stamp.
    """
    cards = [c for c in header.cards if _WCS_KEY.match(c.keyword)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(fits.Header(cards), naxis=2)
    return wcs if wcs.has_celestial and wcs.wcs.ctype[0] else None


def band_of(path: str | os.PathLike, header: fits.Header | None = None) -> str | None:
    """The band of a per-band file from its BAND/FILTER keyword, else its name (``stamp-g-…``)."""
    return (_header_band(header) if header is not None else None) or _name_band(path)


def _header_band(header: fits.Header) -> str | None:
    for key in ("BAND", "FILTER", "FILTNAME"):
        value = str(header.get(key, "")).strip().lower()
        if value[:1] in BANDS and len(value) <= 2:
            return value[:1]
    return None


def _name_band(path: str | os.PathLike) -> str | None:
    match = _BAND_IN_NAME.search(Path(path).name)
    return match.group(1) if match else None


def file_band(path: str | os.PathLike, *headers: fits.Header, expected: str | None = None) -> str | None:
    """The band of a per-band file, refusing (BadInputError) a header that contradicts the file name
    or the band the file was given for: a stamp saying r in the i slot would put r pixels in the i plane."""
    from_header = next((b for b in map(_header_band, headers) if b), None)
    from_name = _name_band(path)
    if from_header and from_name and from_header != from_name:
        raise BadInputError(path, f"the header says band {from_header!r} but the file name says {from_name!r}")
    found = from_header or from_name
    if expected and found and found != expected:
        raise BadInputError(path, f"given as band {expected!r} but the file is band {found!r}")
    return expected or found


def check_equatorial(wcs: WCS, path: str | os.PathLike) -> WCS:
    """The WCS if its celestial axes are RA/Dec; a galactic or ecliptic frame would be read as RA/Dec
    and cut the wrong patch of sky, so it is refused with the frame named."""
    lng, lat = wcs.wcs.lngtyp, wcs.wcs.lattyp
    if (lng, lat) != ("RA", "DEC"):
        ctype = "/".join(wcs.wcs.ctype)
        raise BadInputError(path, f"WCS axes are {lng or '?'}/{lat or '?'} ({ctype}); expected equatorial RA/DEC")
    return wcs


def load_band_image(path: str | os.PathLike, band: str | None = None) -> BandImage:
    """The first 2-D image HDU of a FITS stamp or frame with a celestial WCS."""
    path = Path(path)
    with open_fits(path, "image FITS file") as hdul:
        hdu = next((h for h in hdul if h.is_image and h.data is not None and h.data.ndim == 2), None)
        if hdu is None:
            raise BadInputError(path, "no 2-D image HDU")
        wcs = celestial_wcs(hdu.header)
        if wcs is None:
            raise BadInputError(path, "image has no celestial WCS (CTYPE1/CTYPE2, CRVAL, CRPIX, CD or CDELT keywords)")
        check_equatorial(wcs, path)
        found = file_band(path, hdu.header, hdul[0].header, expected=band)
        if found is None:
            raise BadInputError(
                path, "cannot tell the band: no BAND/FILTER keyword and no -u-/-g-/-r-/-i-/-z- in the name"
            )
        data = np.asarray(hdu.data, dtype=np.float32)
        if not np.isfinite(data).any():
            raise BadInputError(path, f"band {found} image has no finite pixel (all NaN or infinite)")
        return BandImage(data, wcs, found, str(path))


def band_files(
    paths: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike], bands: Sequence[str] = BANDS
) -> dict[str, Path]:
    """Assign one file to each band (from a mapping, or from file names); missing or doubled bands raise."""
    if isinstance(paths, Mapping):
        found = {b: Path(p) for b, p in paths.items()}
    else:
        found = {}
        for p in map(Path, paths):
            b = band_of(p)
            if b is None:
                raise BadInputError(p, "cannot tell the band from the file name (expected -u-, -g-, -r-, -i- or -z-)")
            if b in found:
                raise BadInputError(p, f"two files for band {b!r}: {found[b].name} and {p.name}")
            found[b] = p
    missing = [b for b in bands if b not in found]
    if missing:
        where = Path(os.path.commonpath([str(p) for p in found.values()])) if found else None
        raise BadInputError(
            where,
            f"missing band {', '.join(map(repr, missing))}: expected one "
            f"file for each of {','.join(bands)}, found {sorted(found)}",
        )
    return {b: found[b] for b in bands}


def output_wcs(ra: float, dec: float, size: int, reference: WCS) -> WCS:
    """TAN grid centred on (ra, dec) with the reference band's pixel scale and orientation."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]  # 1-based FITS centre == 0-based (size-1)/2
    w.wcs.cd = reference.pixel_scale_matrix
    w.wcs.set()
    return w


def make_cube(
    images: Mapping[str, BandImage],
    ra: float,
    dec: float,
    size: int = CUTOUT_SIZE,
    bands: Sequence[str] = BANDS,
    reference: str = REFERENCE_BAND,
) -> Cube:
    """Resample each band onto one grid centred on (ra, dec); masked where a band has no data.

    Parameters
    ----------
    images : mapping of str to BandImage
        One image with its WCS per band.
    ra, dec : float
        The target, degrees (ICRS).
    size : int
        Cutout side in pixels of the reference band's scale.
    bands : sequence of str
        The bands of the cube, in order.
    reference : str
        The band whose pixel grid the others are resampled onto.

    Returns
    -------
    Cube
        ``bands × size × size`` data, a mask of pixels outside a band's image, the WCS and band names.

    Raises
    ------
    BadInputError
        A band missing, or a position its WCS cannot place, naming the file.
    """
    missing = [b for b in bands if b not in images]
    if missing:
        raise BadInputError(None, f"missing band {', '.join(map(repr, missing))}: expected {','.join(bands)}")
    ref = images[reference] if reference in images else images[bands[0]]
    out_wcs = output_wcs(ra, dec, size, ref.wcs)
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    world = out_wcs.pixel_to_world_values(xx.ravel(), yy.ravel())
    data = np.empty((len(bands), size, size), np.float32)
    for i, b in enumerate(bands):
        data[i] = _resample(images[b], ra, dec, size, world, ref.wcs)
        if not np.isfinite(data[i]).any():
            raise BadInputError(images[b].source or None,
                                f"band {b}: no data within the {size}x{size} cutout at RA/Dec {ra:.5f}, {dec:+.5f}")
    mask = ~np.isfinite(data)
    data[mask] = 0.0
    meta = {
        "ra": float(ra),
        "dec": float(dec),
        "reference_band": ref.band,
        "sources": {b: images[b].source for b in bands},
    }
    return Cube(data, mask, out_wcs, tuple(bands), meta)


def _resample(img: BandImage, ra: float, dec: float, size: int, world, ref_wcs: WCS) -> np.ndarray:
    """Cut the band around the target (Cutout2D, partial) and sample it bilinearly at the output grid."""
    scale = np.sqrt(abs(np.linalg.det(ref_wcs.pixel_scale_matrix)) / abs(np.linalg.det(img.wcs.pixel_scale_matrix)))
    span = int(np.ceil(size * scale * np.sqrt(2))) + 4  # room for any rotation plus the bilinear neighbours
    x0, y0 = img.wcs.world_to_pixel_values(ra, dec)
    if not (np.isfinite(x0) and np.isfinite(y0)):  # e.g. more than 90° from a TAN image's centre
        raise BadInputError(
            img.source or None, f"band {img.band}: the image's WCS cannot place RA/Dec {ra:.5f}, {dec:.5f}"
        )
    try:
        cut = Cutout2D(img.data, (float(x0), float(y0)), (span, span), mode="partial", fill_value=np.nan, copy=False)
    except NoOverlapError as exc:
        raise BadInputError(
            img.source or None, f"band {img.band}: RA/Dec {ra:.5f}, {dec:.5f} lies outside the image"
        ) from exc
    xb, yb = img.wcs.world_to_pixel_values(*world)
    (y_orig, _), (x_orig, _) = cut.bbox_original
    (y_cut0, _), (x_cut0, _) = cut.bbox_cutout
    x_cut, y_cut = xb - x_orig + x_cut0, yb - y_orig + y_cut0  # frame pixel -> cutout pixel
    sampled = map_coordinates(
        np.asarray(cut.data, np.float64), [y_cut, x_cut], order=1, mode="constant", cval=np.nan, prefilter=False
    )
    return sampled.reshape(size, size).astype(np.float32)


def cube_from_files(
    paths: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike],
    ra: float,
    dec: float,
    size: int = CUTOUT_SIZE,
    bands: Sequence[str] = BANDS,
) -> Cube:
    """Build a cube from per-band stamps or frames (one file per band)."""
    files = band_files(paths, bands)
    images = {b: load_band_image(p, b) for b, p in files.items()}
    return make_cube(images, ra, dec, size, bands)


def write_cube(path: str | os.PathLike, cube: Cube) -> Path:
    """FITS: primary = bands×N×N float32 with the celestial WCS and BANDS; extension MASK (uint8)."""
    path = Path(path)
    header = cube.wcs.to_header()
    header["BANDS"] = (",".join(cube.bands), "band of each plane, first axis")
    header["BUNIT"] = "nanomaggy"
    for key, name in (("RA", "ra"), ("DEC", "dec")):
        if name in cube.meta:
            header[f"OBJ{key}"] = (cube.meta[name], f"target {name} (deg), at the cube centre")
    primary = fits.PrimaryHDU(cube.data.astype(np.float32), header=header)
    mask = fits.ImageHDU(cube.mask.astype(np.uint8), name="MASK")
    return write_atomic(path, fits.HDUList([primary, mask]).writeto)


def read_cube(path: str | os.PathLike) -> Cube:
    """Read a cube written by :func:`write_cube` (or any bands×N×N image with WCS and BANDS)."""
    path = Path(path)
    with open_fits(path, "cutout cube") as hdul:
        head, data = hdul[0].header, hdul[0].data
        if data is None or data.ndim != 3 or data.shape[1] != data.shape[2]:
            raise BadInputError(
                path, f"expected a bands×N×N image in the primary HDU, got {None if data is None else data.shape}"
            )
        bands = tuple(b.strip() for b in str(head.get("BANDS", "")).split(",") if b.strip())
        if len(bands) != data.shape[0]:
            raise BadInputError(path, f"BANDS keyword {head.get('BANDS')!r} does not name the {data.shape[0]} planes")
        wcs = celestial_wcs(head)
        if wcs is None:
            raise BadInputError(path, "cube has no celestial WCS")
        check_equatorial(wcs, path)
        mask = np.asarray(hdul["MASK"].data, bool) if "MASK" in hdul else ~np.isfinite(data)
        cube_data = np.where(mask, 0, np.asarray(data, np.float32)).astype(np.float32)
        meta = {k: float(head[f"OBJ{k.upper()}"]) for k in ("ra", "dec") if f"OBJ{k.upper()}" in head}
    return Cube(cube_data, mask, wcs, bands, meta)


def stretch(
    image: np.ndarray,
    kind: str = "asinh",
    mask: np.ndarray | None = None,
    percentile: float = 99.5,
    asinh_a: float = 0.1,
) -> np.ndarray:
    """Display scaling to [0, 1]: ``linear`` (min–max), ``asinh`` (percentile limits) or ``zscale``.

    Limits come from unmasked finite pixels; masked pixels come out 0.
    """
    if kind not in STRETCHES:
        raise ValueError(f"unknown stretch {kind!r}: expected one of {STRETCHES}")
    x = np.asarray(image, np.float64)
    good = np.isfinite(x) if mask is None else np.isfinite(x) & ~np.asarray(mask, bool)
    if not good.any():
        return np.zeros(x.shape, np.float32)
    if kind == "zscale":
        lo, hi = zscale_limits(x[good])
    else:
        lo, hi = (MinMaxInterval() if kind == "linear" else PercentileInterval(percentile)).get_limits(x[good])
    return _scaled(np.where(good, x, lo), lo, hi, kind, asinh_a, good)


def stretch_planes(
    planes: np.ndarray,
    kind: str = "asinh",
    mask: np.ndarray | None = None,
    percentile: float = 99.5,
    asinh_a: float = 0.1,
) -> np.ndarray:
    """:func:`stretch` of every plane of a (B, H, W) stack, each with its own limits.

    The same numbers as one :func:`stretch` per plane; where no pixel is masked the limits of all
    planes come from one vectorised percentile (a viewer restretches five bands per candidate).
    """
    if kind not in STRETCHES:
        raise ValueError(f"unknown stretch {kind!r}: expected one of {STRETCHES}")
    x = np.asarray(planes, np.float64)
    good = np.isfinite(x) if mask is None else np.isfinite(x) & ~np.asarray(mask, bool)
    if kind == "zscale" or not good.all():
        return np.stack([stretch(p, kind, ~g, percentile, asinh_a) for p, g in zip(x, good, strict=True)])
    flat = x.reshape(len(x), -1)
    if kind == "linear":
        lo, hi = flat.min(axis=1), flat.max(axis=1)
    else:
        tail = (100.0 - percentile) / 2  # as astropy's PercentileInterval
        lo, hi = np.percentile(flat, (tail, 100.0 - tail), axis=1)
    return _scaled(x, lo[:, None, None], hi[:, None, None], kind, asinh_a)


def _scaled(x: np.ndarray, lo, hi, kind: str, asinh_a: float, good: np.ndarray | None = None) -> np.ndarray:
    """``x`` mapped from [lo, hi] onto [0, 1] and through the stretch's curve; 0 outside ``good``."""
    scaled = np.clip((x - lo) / np.where(hi > lo, hi - lo, 1.0), 0, 1)
    out = (AsinhStretch(asinh_a) if kind == "asinh" else LinearStretch())(scaled, clip=True)
    return (out if good is None else np.where(good, out, 0.0)).astype(np.float32)


def zscale_limits(values: np.ndarray, n_samples: int = 1000, contrast: float = 0.25, krej: float = 2.5,
                  max_iterations: int = 5) -> tuple[float, float]:
    """IRAF's zscale limits of the finite ``values``, as astropy's ``ZScaleInterval`` with its defaults.

    The line through the sorted samples is fitted in closed form rather than with ``np.polyfit``:
    same limits (to rounding), a third of the time (~0.35 ms against ~1.1 ms for a 64×64 band),
    which counts when the viewer restretches five bands on every candidate switch.
    """
    values = np.asarray(values, np.float64).ravel()
    values = values[np.isfinite(values)]
    samples = np.sort(values[:: max(1, values.size // n_samples)][:n_samples])
    npix = samples.size
    x = np.arange(npix, dtype=np.float64)
    minpix = max(5, npix // 2)  # give up when more than half the samples are rejected
    grow = np.ones(max(1, int(npix * 0.01)), bool)  # a rejected sample takes 1% of its neighbours with it
    good = np.ones(npix, bool)
    ngood, last, slope = npix, npix + 1, None
    for _ in range(max_iterations):
        if not minpix <= ngood < last:
            break
        xm, ym = x[good].mean(), samples[good].mean()
        dx = x[good] - xm
        slope = (dx @ (samples[good] - ym)) / (dx @ dx)
        flat = samples - (ym + slope * (x - xm))
        good &= np.abs(flat) <= krej * flat[good].std()
        good = ~np.convolve(~good, grow, mode="same")
        last, ngood = ngood, int(good.sum())
    lo, hi = float(samples[0]), float(samples[-1])
    if slope is not None and ngood >= minpix:
        centre, median = (npix - 1) // 2, float(np.median(samples))
        lo = max(lo, median - (centre - 1) * slope / contrast)
        hi = min(hi, median + (npix - centre) * slope / contrast)
    return lo, hi
