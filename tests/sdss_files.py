"""Writers of small synthetic SDSS-format files (spec, spSpec, spPlate, image stamps) for tests and benchmarks.

They follow the SDSS data models closely enough for the readers in ``bhb_viewer.core`` and for
the services tests that serve files in place of the network.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

SDSS_LOGLAM0 = 3.5800  # a DR7-like start, 221 pixels blue of the grid's 3.6021


def smooth_flux(loglam: np.ndarray, seed: int = 0) -> np.ndarray:
    """A blue continuum with a few Balmer-like absorption lines, in 1e-17 erg/s/cm²/Å."""
    rng = np.random.default_rng(seed)
    wave = 10.0 ** np.asarray(loglam, float)
    flux = 50.0 * (wave / 5000.0) ** -2
    for line in (4102.9, 4341.7, 4862.7, 6564.6):
        flux *= 1 - 0.5 * np.exp(-0.5 * ((wave - line) / 8.0) ** 2)
    return flux + rng.normal(0, 0.5, wave.shape)


def write_spec(
    path, loglam, flux, ivar, and_mask=None, plate=266, mjd=51602, fiber=3, ra=146.7, dec=-0.76, z=1e-4
) -> Path:
    """An SDSS ``spec-PLATE-MJD-FIBER.fits`` (lite layout: COADD table + SPALL row)."""
    n = len(loglam)
    cols = [
        fits.Column("flux", "E", array=np.asarray(flux, np.float32)),
        fits.Column("loglam", "E", array=np.asarray(loglam, np.float32)),
        fits.Column("ivar", "E", array=np.asarray(ivar, np.float32)),
        fits.Column(
            "and_mask", "J", array=np.zeros(n, np.int32) if and_mask is None else np.asarray(and_mask, np.int32)
        ),
    ]
    primary = fits.PrimaryHDU()
    primary.header.update(PLATEID=plate, MJD=mjd, FIBERID=fiber, PLUG_RA=ra, PLUG_DEC=dec)
    coadd = fits.BinTableHDU.from_columns(cols, name="COADD")
    spall = fits.BinTableHDU.from_columns(
        [
            fits.Column("PLATE", "J", array=[plate]),
            fits.Column("MJD", "J", array=[mjd]),
            fits.Column("FIBERID", "J", array=[fiber]),
            fits.Column("PLUG_RA", "D", array=[ra]),
            fits.Column("PLUG_DEC", "D", array=[dec]),
            fits.Column("Z", "E", array=[z]),
        ],
        name="SPALL",
    )
    fits.HDUList([primary, coadd, spall]).writeto(path, overwrite=True)
    return Path(path)


def write_spspec(path, coeff0, flux, err, mask=None, plate=266, mjd=51630, fiber=7, ra=150.1, dec=0.5, z=2e-4) -> Path:
    """A DR7 ``spSpec``: rows flux, continuum-subtracted flux, error, mask; COEFF0/COEFF1 grid."""
    flux = np.asarray(flux, np.float32)
    mask = np.zeros_like(flux) if mask is None else np.asarray(mask, np.float32)
    image = np.stack([flux, flux - np.median(flux), np.asarray(err, np.float32), mask])
    hdu = fits.PrimaryHDU(image)
    hdu.header.update(COEFF0=coeff0, COEFF1=1e-4, PLATEID=plate, MJD=mjd, FIBERID=fiber, RAOBJ=ra, DECOBJ=dec, Z=z)
    hdu.writeto(path, overwrite=True)
    return Path(path)


def write_spplate(path, coeff0, flux, ivar=None, andmask=None, plug_radec=None, plate=4055, mjd=55359) -> Path:
    """A multi-fiber ``spPlate``: HDU0 flux (fibers × pixels); HDU1 ivar, HDU2 andmask, HDU5 plug map when given."""
    primary = fits.PrimaryHDU(np.asarray(flux, np.float32))
    primary.header.update(COEFF0=coeff0, COEFF1=1e-4, PLATEID=plate, MJD=mjd)
    hdus = [primary]
    if ivar is not None:
        hdus.append(fits.ImageHDU(np.asarray(ivar, np.float32)))
        hdus.append(fits.ImageHDU(np.zeros_like(flux, np.int32) if andmask is None else np.asarray(andmask, np.int32)))
    if plug_radec is not None:
        ra, dec = plug_radec
        while len(hdus) < 5:
            hdus.append(fits.ImageHDU(np.zeros((1, 1), np.float32)))
        hdus.append(
            fits.BinTableHDU.from_columns(
                [
                    fits.Column("FIBERID", "J", array=np.arange(1, len(ra) + 1) + 100),
                    fits.Column("RA", "D", array=ra),
                    fits.Column("DEC", "D", array=dec),
                ],
                name="PLUGMAP",
            )
        )
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return Path(path)


def stamp_wcs(
    ra: float, dec: float, size: int, crpix: tuple[float, float] | None = None, rotation_deg: float = 0.0
) -> WCS:
    """A TAN WCS with 0.396″ pixels, north up east left (rotated by ``rotation_deg``), CRVAL at (ra, dec)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = list(crpix) if crpix else [(size + 1) / 2, (size + 1) / 2]
    scale = 0.396 / 3600
    c, s = np.cos(np.radians(rotation_deg)), np.sin(np.radians(rotation_deg))
    w.wcs.cd = np.array([[-scale * c, scale * s], [scale * s, scale * c]])
    return w


def gaussian_star(
    shape: tuple[int, int], x: float, y: float, flux: float = 100.0, sigma: float = 1.5, sky: float = 0.0
) -> np.ndarray:
    """A Gaussian star at 0-based pixel (x, y)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return sky + flux / (2 * np.pi * sigma**2) * np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / sigma**2)


def write_stamp(path, data: np.ndarray, wcs: WCS | None, band: str | None = None) -> Path:
    """A per-band image with its WCS (and BAND keyword) in the primary header."""
    header = wcs.to_header() if wcs is not None else fits.Header()
    if band:
        header["BAND"] = band
    fits.PrimaryHDU(np.asarray(data, np.float32), header=header).writeto(path, overwrite=True)
    return Path(path)


def served_spectrum(folder, plate: int, mjd: int, fiber: int, loglam: np.ndarray, offset: float = 0.0) -> fits.HDUList:
    """SDSS's answer to a spectrum request, for a fake request layer: a spec file written under
    ``folder`` (flux ``smooth_flux(loglam, fiber) + offset``) and opened wholly in memory."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = write_spec(Path(folder) / f"spec-{plate}-{mjd}-{fiber}.fits", loglam, smooth_flux(loglam, fiber) + offset,
                      np.ones(len(loglam)), plate=plate, mjd=mjd, fiber=fiber)
    return fits.open(path, memmap=False, lazy_load_hdus=False)


def sdss_frame(ra: float, dec: float, band: str, size: int = 40) -> fits.HDUList:
    """A frame in memory with the star at its centre and the band in FILTER, as SDSS writes it."""
    wcs = stamp_wcs(ra, dec, size)
    x, y = wcs.world_to_pixel_values(ra, dec)
    header = wcs.to_header()
    header.update(FILTER=band, RUN=1, CAMCOL=1, FIELD=1)
    return fits.HDUList([fits.PrimaryHDU(gaussian_star((size, size), x, y).astype("f4"), header)])


def hips_answer(ra: float, dec: float, width: int, flux: float = 100.0, sky: float = 0.01) -> fits.HDUList:
    """What hips2fits answers for a TAN cutout at 0.396″/px centred on (ra, dec): an image with a
    CDELT-style WCS (CRPIX at the centre, CUNIT deg, RADESYS ICRS), no band keyword; a star at the centre."""
    header = fits.Header()
    header.update(WCSAXES=2, CRPIX1=width / 2 + 0.5, CRPIX2=width / 2 + 0.5, CDELT1=-0.396 / 3600, CDELT2=0.396 / 3600,
                  CUNIT1="deg", CUNIT2="deg", CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=ra, CRVAL2=dec,
                  LONPOLE=180.0, LATPOLE=dec, RADESYS="ICRS")
    centre = (width - 1) / 2
    data = gaussian_star((width, width), centre, centre, flux=flux, sky=sky).astype("f4")
    return fits.HDUList([fits.PrimaryHDU(data, header)])


def write_ingest_corpus(folder, n_plates: int = 2, fibers: int = 6, n_spec: int = 4, size: int = 16) -> Path:
    """Files for a build from disk: ``n_plates`` spPlate files of ``fibers`` fibers, ``n_spec`` spec
    files, and one small cube file every row names; returns the catalog (rows shuffled, labelled)."""
    from astropy.table import Table

    from bhb_viewer.core.readers.cutouts import BandImage, make_cube, write_cube

    folder = Path(folder)
    spectra = folder / "spectra"
    spectra.mkdir(parents=True, exist_ok=True)
    loglam = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)
    rows = []
    for p in range(n_plates):
        plate, mjd = 5000 + p, 56000 + p
        flux = np.stack([smooth_flux(loglam, p * fibers + f) for f in range(fibers)])
        write_spplate(spectra / f"spPlate-{plate:04d}-{mjd:05d}.fits", SDSS_LOGLAM0, flux, np.ones_like(flux),
                      plate=plate, mjd=mjd)
        rows += [(f"p{plate}-{f + 1}", plate, mjd, f + 1) for f in range(fibers)]
    for i in range(n_spec):
        plate, mjd, fiber = 300, 51600, i + 1
        write_spec(spectra / f"spec-{plate:04d}-{mjd:05d}-{fiber:04d}.fits", loglam, smooth_flux(loglam, 1000 + i),
                   np.ones(loglam.size), plate=plate, mjd=mjd, fiber=fiber)
        rows.append((f"s{i}", plate, mjd, fiber))
    ra, dec = 150.0, 2.0
    wcs = stamp_wcs(ra, dec, 40)
    x, y = wcs.world_to_pixel_values(ra, dec)
    write_cube(
        folder / "cube.fits",
        make_cube({b: BandImage(gaussian_star((40, 40), x, y), wcs, b) for b in "ugriz"}, ra, dec, size),
    )
    order = np.random.default_rng(0).permutation(len(rows))
    table = Table(rows=[rows[i] for i in order], names=("id", "plate", "mjd", "fiber"))
    table["ra"], table["dec"], table["cutout"] = ra, dec, "cube.fits"
    table["label"] = np.arange(len(table)) % 2
    table.write(folder / "catalog.ecsv", overwrite=True)
    return folder / "catalog.ecsv"


class FakeSDSSServer:
    """``SDSSService._fetch`` stand-in: spectra for any plate but 999, HiPS cutouts; can lose the
    network after ``lose_after`` calls (with the URLError urllib raises for an unreachable network)."""

    def __init__(self, tmp_path, lose_after: int | None = None):
        self.tmp, self.calls, self.lose_after = tmp_path / "served", [], lose_after

    def __call__(self, kind, **p):
        if self.lose_after is not None and len(self.calls) >= self.lose_after:
            raise urllib.error.URLError(OSError(101, "Network is unreachable"))
        self.calls.append((kind, p))
        if kind == "spectrum":
            loglam = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)
            return [] if p["plate"] == 999 else [served_spectrum(self.tmp, p["plate"], p["mjd"], p["fiber"], loglam)]
        return [hips_answer(p["ra"], p["dec"], p["size"] + 8) for _ in "ugriz"]
