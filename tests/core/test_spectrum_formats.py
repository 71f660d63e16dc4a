"""Every spectrum format the readers take, each from an example file the test writes (or the shipped real spSpec).

Formats: SDSS DR7 spSpec (real file), SDSS spec with a SPECOBJ row and wdisp, LAMOST LRS (5-row
image and binary table), IRAF-style 1-D FITS (linear air, log-linear vacuum, multispec rows, nm
units, partial coverage as a stellar library), gzip/bzip2-compressed FITS, DESI coadd via specutils.
"""

from __future__ import annotations

import bz2
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from sdss_files import smooth_flux, write_spec

from bhb_viewer.core.grid import DLOGLAM, LOGLAM0, NPIX, wavelength
from bhb_viewer.core.readers.input_kind import detect_kind
from bhb_viewer.core.readers.quality import MIN_VALID_FRACTION, is_unreliable, quality_flags
from bhb_viewer.core.readers.spectra import read_spectra
from bhb_viewer.core.readers.spectra_generic import air_to_vacuum

REAL_SPSPEC = Path(__file__).resolve().parents[1] / "data" / "spSpec-53166-1615-104.fit"
HG_VAC, HD_VAC = 4341.69, 4102.89  # vacuum Balmer lines (SKY_FACTS)


def lined_flux(wave_vac: np.ndarray) -> np.ndarray:
    """A continuum with deep, narrow Hδ and Hγ at their vacuum wavelengths (no noise)."""
    flux = 100.0 * (wave_vac / 5000.0) ** -2
    for line in (HD_VAC, HG_VAC):
        flux = flux * (1 - 0.6 * np.exp(-0.5 * ((wave_vac - line) / 3.0) ** 2))
    return flux


def line_centre(spectrum, near: float) -> float:
    """Wavelength of the flux minimum within ±15 Å of ``near``, refined by a parabola through 3 pixels."""
    w = wavelength()
    sel = np.flatnonzero(np.abs(w - near) < 15)
    i = sel[np.argmin(spectrum.flux[sel])]
    y0, y1, y2 = spectrum.flux[i - 1 : i + 2].astype(float)
    shift = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return float(w[i] * 10 ** (DLOGLAM * shift))


# -- SDSS ------------------------------------------------------------------------------------------
def test_real_dr7_spspec_masks_only_published_bad_pixel_bits():
    """spSpec-53166-1615-104: any non-zero bit used to mask 2,081 window pixels; the bad-pixel bits mask 102."""
    with fits.open(REAL_SPSPEC) as hdul:
        data, head = hdul[0].data, hdul[0].header
    k0 = round((LOGLAM0 - head["COEFF0"]) / head["COEFF1"])
    window_mask, window_err = data[3, k0 : k0 + NPIX].astype(np.int64), data[2, k0 : k0 + NPIX]
    assert int(np.sum(window_mask == 0)) == 1441 and int(np.sum(window_err > 0)) == 3420  # the old rule's count

    (s,) = read_spectra(REAL_SPSPEC).spectra
    assert s.id == "1615-53166-104" and s.meta["format"] == "spSpec" and s.meta["aligned"]
    assert s.meta["n_valid"] == 3420 and s.valid_fraction == pytest.approx(3420 / 3522, abs=1e-4)
    np.testing.assert_array_equal(s.valid, window_err > 0)  # exactly the pixels SDSS gave an error
    assert 1500 < s.meta["resolution"] < 2500 and s.meta["resolution_source"] == "line-spread width in the file"
    assert s.meta["flags"] == []


def test_spec_specobjid_string_is_an_exact_uint64_and_wdisp_gives_resolution_flagged_by_inspect(tmp_path, capsys):
    ll = 3.5800 + DLOGLAM * np.arange(3900)
    specobjid = "  10945812567346040832  "  # > 2**63, as SPECOBJ holds it: a padded 22-character string
    coadd = fits.BinTableHDU.from_columns(
        [
            fits.Column("flux", "E", array=smooth_flux(ll).astype("f4")),
            fits.Column("loglam", "E", array=ll.astype("f4")),
            fits.Column("ivar", "E", array=np.ones(ll.size, "f4")),
            fits.Column("and_mask", "J", array=np.zeros(ll.size, "i4")),
            fits.Column("wdisp", "E", array=np.full(ll.size, 0.37, "f4")),  # a line-spread σ of 0.37 px: R ≈ 5,000
        ],
        name="COADD",
    )
    specobj = fits.BinTableHDU.from_columns(
        [
            fits.Column("PLATE", "J", array=[9000]), fits.Column("MJD", "J", array=[57000]),
            fits.Column("FIBERID", "J", array=[12]), fits.Column("SPECOBJID", "22A", array=[specobjid]),
        ],
        name="SPECOBJ",
    )
    path = tmp_path / "spec-9000-57000-0012.fits"
    fits.HDUList([fits.PrimaryHDU(), coadd, specobj]).writeto(path)
    (s,) = read_spectra(path).spectra
    assert s.meta["specobjid"] == 10945812567346040832 and s.meta["specobjid"] > 2**63
    assert s.meta["resolution"] == pytest.approx(1 / (2.3548 * 0.37 * np.log(10) * 1e-4), rel=1e-3)
    assert any("resolution R ≈ 4,985" in f for f in s.meta["flags"])

    from bhb_viewer.commands.inspect import _print_text, inspect_path

    report = inspect_path(path)
    reported = report["spectra"][0]
    assert reported["flags"] == s.meta["flags"] and reported["resolution"] == pytest.approx(4985, abs=1)
    _print_text(report)
    assert (
        "! resolution R ≈ 4,985 (line-spread width in the file) differs from SDSS's R ≈ 2,000"
        in capsys.readouterr().out
    )


# -- LAMOST ----------------------------------------------------------------------------------------
LAMOST_COEFF0 = 3.5682  # LAMOST LRS log10 λ start (3700 Å), SDSS's step: 339 pixels blue of the grid
LAMOST_N = 3909


def lamost_arrays():
    wave = 10 ** (LAMOST_COEFF0 + DLOGLAM * np.arange(LAMOST_N))
    flux = lined_flux(wave)
    ivar = np.full(LAMOST_N, 0.25)
    andmask = np.zeros(LAMOST_N, np.int32)
    k = round((LOGLAM0 - LAMOST_COEFF0) / DLOGLAM)
    andmask[k + 100 : k + 104] = 8  # BRIGHTSKY: a warning
    andmask[k + 200 : k + 203] = 32  # NODATA: bad
    return wave, flux, ivar, andmask


def lamost_header() -> fits.Header:
    head = fits.Header()
    head.update(TELESCOP="LAMOST", OBSID=269504010, DESIG="LAMOST J102030.10+101010.1", RA=155.1254, DEC=10.1695,
                FILENAME="spec-56982-HD0_sp04-010.fits", VACUUM=True, COEFF0=LAMOST_COEFF0, COEFF1=DLOGLAM)
    return head


def write_lamost_image(path: Path) -> Path:
    wave, flux, ivar, andmask = lamost_arrays()
    image = np.stack([flux, ivar, wave, andmask, andmask]).astype("f4")
    fits.PrimaryHDU(image, lamost_header()).writeto(path)
    return path


def write_lamost_table(path: Path) -> Path:
    wave, flux, ivar, andmask = lamost_arrays()
    n = f"{LAMOST_N}"
    cols = [fits.Column("FLUX", n + "E", array=[flux]), fits.Column("IVAR", n + "E", array=[ivar]),
            fits.Column("WAVELENGTH", n + "D", array=[wave]), fits.Column("ANDMASK", n + "J", array=[andmask]),
            fits.Column("ORMASK", n + "J", array=[andmask]), fits.Column("NORMALIZATION", n + "E", array=[flux / 100])]
    table = fits.BinTableHDU.from_columns(cols, name="COADD")
    fits.HDUList([fits.PrimaryHDU(header=lamost_header()), table]).writeto(path)
    return path


@pytest.mark.parametrize("writer", [write_lamost_image, write_lamost_table], ids=["5-row image", "binary table"])
def test_lamost_low_resolution_layouts(tmp_path, writer):
    path = writer(tmp_path / "spec-56982-HD0_sp04-010.fits")
    assert detect_kind(path) == "spectra"
    (s,) = read_spectra(path).spectra
    assert s.id == "spec-56982-HD0_sp04-010" and s.meta["format"] == "lamost" and s.meta["aligned"]
    assert s.meta["ra"] == pytest.approx(155.1254) and s.meta["obsid"] == 269504010
    assert np.flatnonzero(~s.valid).tolist() == [200, 201, 202]  # NODATA masked, BRIGHTSKY kept
    assert line_centre(s, HG_VAC) == pytest.approx(HG_VAC, abs=0.2)
    assert s.meta["resolution"] == 1800 and s.meta["flags"] == []


def test_the_two_lamost_layouts_give_the_same_spectrum(tmp_path):
    a = read_spectra(write_lamost_image(tmp_path / "a.fits")).spectra[0]
    b = read_spectra(write_lamost_table(tmp_path / "b.fits")).spectra[0]
    np.testing.assert_allclose(a.flux, b.flux, rtol=1e-6)
    np.testing.assert_array_equal(a.ivar, b.ivar)


# -- 1-D FITS (IRAF style) -------------------------------------------------------------------------
def test_linear_air_spectrum_is_converted_to_vacuum_by_assumption(tmp_path):
    """STELIB-like: 3200–9500 Å air, 1 Å/px, CRVAL1/CDELT1/CRPIX1 and no keyword saying air or vacuum."""
    wave_air = 3200.0 + np.arange(6301)
    flux = lined_flux(air_to_vacuum(wave_air))  # the star's lines sit at their air wavelengths in the file
    hdu = fits.PrimaryHDU(flux.astype("f4"))
    hdu.header.update(CRVAL1=3201.0, CDELT1=1.0, CRPIX1=2.0, OBJECT="HD 12345", RA=10.5, DEC=-3.25)
    path = tmp_path / "stelib_star.fits"
    hdu.writeto(path)
    assert detect_kind(path) == "spectra"
    (s,) = read_spectra(path).spectra
    assert s.meta["format"] == "1d" and not s.meta["aligned"] and s.meta["ivar_known"] is False
    assert s.meta["wavelength_medium"].startswith("air (assumed")
    assert line_centre(s, HG_VAC) == pytest.approx(HG_VAC, abs=0.15)  # 1.2 Å off without the conversion
    assert line_centre(s, HD_VAC) == pytest.approx(HD_VAC, abs=0.15)
    assert s.meta["ra"] == 10.5 and s.meta["object"] == "HD 12345"
    assert s.meta["resolution_source"].startswith("sampling") and s.meta["flags"] == []


def test_log_linear_vacuum_one_row_image_with_error_extension(tmp_path):
    """DC-FLAG = 1 with CD1_1 (no CDELT1), CTYPE1 WAVE = vacuum, flux as a 1-row image, ERR extension."""
    n = 4200
    x = 3.57 + 1.5e-4 * np.arange(n)
    flux = lined_flux(10**x)
    primary = fits.PrimaryHDU(flux[None, :].astype("f4"))
    primary.header.update(CRVAL1=3.57, CD1_1=1.5e-4, CRPIX1=1.0, **{"DC-FLAG": 1}, CTYPE1="WAVE", SPEC_RES=2100.0)
    err = fits.ImageHDU(np.full(n, 0.5, "f4"), name="ERR")
    path = tmp_path / "loglin.fits"
    fits.HDUList([primary, err]).writeto(path)
    (s,) = read_spectra(path).spectra
    assert s.meta["wavelength_medium"] == "vacuum (CTYPE1 WAVE)"
    assert line_centre(s, HG_VAC) == pytest.approx(HG_VAC, abs=0.3)
    assert s.ivar.min() == pytest.approx(4.0) and s.ivar.max() <= 8.0  # 1/0.5², up to ×2 between two file pixels
    assert (
        s.valid_fraction == 1.0 and s.meta["resolution"] == 2100.0 and s.meta["resolution_source"] == "header SPEC_RES"
    )


def test_multispec_rows_in_nm_with_a_sigma_band(tmp_path):
    wave_nm = 380.0 + 0.1 * np.arange(5600)
    flux = lined_flux(wave_nm * 10)
    image = np.stack([flux, flux * 1.01, np.zeros(flux.size), np.full(flux.size, 2.0)]).astype("f4")
    hdu = fits.PrimaryHDU(image)
    hdu.header.update(CRVAL1=380.0, CDELT1=0.1, CUNIT1="nm", AIRORVAC="vac", BANDID1="spectrum - background fit",
                      BANDID2="raw - unweighted", BANDID3="background - fit", BANDID4="sigma - weights")
    path = tmp_path / "multispec.fits"
    hdu.writeto(path)
    (s,) = read_spectra(path).spectra
    assert s.meta["wavelength_medium"] == "vacuum (AIRORVAC)"
    assert line_centre(s, HD_VAC) == pytest.approx(HD_VAC, abs=0.3)
    assert 0.25 <= np.median(s.ivar) <= 0.5  # from the sigma row (2.0), not the zero background row


def test_library_spectrum_short_of_the_window_is_read_partially_and_marked_unreliable(tmp_path):
    """MILES-like: 3525–7500 Å, 0.9 Å/px, air. Rejected for a data set; on request read with a low valid fraction."""
    wave_air = 3525.0 + 0.9 * np.arange(4418)
    hdu = fits.PrimaryHDU(lined_flux(air_to_vacuum(wave_air)).astype("f4"))
    hdu.header.update(CRVAL1=3525.0, CDELT1=0.9, CTYPE1="AWAV")
    path = tmp_path / "miles.fits"
    hdu.writeto(path)
    batch = read_spectra(path)
    assert batch.spectra == [] and "covers 2731 of 3522 pixels" in batch.rejected[0][1]
    (s,) = read_spectra(path, partial=True).spectra
    assert s.valid_fraction == pytest.approx(2731 / 3522, abs=1e-4) and s.valid_fraction < MIN_VALID_FRACTION
    assert is_unreliable(s.valid_fraction) and "score is unreliable" in s.meta["flags"][0]
    assert not s.valid[-1] and s.valid[0]
    assert line_centre(s, HG_VAC) == pytest.approx(HG_VAC, abs=0.2)


def test_resolution_flag_for_a_finely_sampled_spectrum_is_only_an_upper_limit():
    assert quality_flags({"resolution": 40000.0, "resolution_source": "sampling (upper limit λ/2Δλ)",
                          "resolution_is_upper_limit": True}) == []
    low = quality_flags(
        {"resolution": 600.0, "resolution_source": "sampling (upper limit λ/2Δλ)", "resolution_is_upper_limit": True}
    )
    assert len(low) == 1 and "R ≈ 600" in low[0]
    assert "R ≈ 40,000" in quality_flags({"resolution": 40000.0, "resolution_source": "header SPEC_RES"})[0]


# -- compressed files ------------------------------------------------------------------------------
def test_gzip_and_bzip2_fits_are_read_as_what_they_hold(tmp_path):
    ll = 3.5800 + DLOGLAM * np.arange(3900)
    plain = write_spec(tmp_path / "spec-0266-51602-0003.fits", ll, smooth_flux(ll), np.ones(ll.size))
    gz = tmp_path / "spec-0266-51602-0003.fits.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    bz = tmp_path / "spSpec-53166-1615-104.fit.bz2"
    bz.write_bytes(bz2.compress(REAL_SPSPEC.read_bytes()))
    frame = tmp_path / "frame-u-003900-6-0269.fits.bz2"  # as SDSS serves its frames
    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 164.43, "CRVAL2": 39.03, "CRPIX1": 10,
                          "CRPIX2": 10, "CD1_1": -1.1e-4, "CD2_2": 1.1e-4, "FILTER": "u"})
    raw = tmp_path / "frame.fits"
    fits.PrimaryHDU(np.zeros((20, 20), "f4"), header).writeto(raw)
    frame.write_bytes(bz2.compress(raw.read_bytes()))

    assert [detect_kind(p) for p in (gz, bz, frame)] == ["spectra", "spectra", "image"]
    assert read_spectra(gz).spectra[0].id == "266-51602-3"
    np.testing.assert_array_equal(read_spectra(gz).spectra[0].flux, read_spectra(plain).spectra[0].flux)
    assert read_spectra(bz).spectra[0].meta["n_valid"] == 3420


# -- specutils -------------------------------------------------------------------------------------
def write_desi_coadd(path: Path, n_targets: int = 2) -> Path:
    """A DESI coadd in its data model's layout: B/R/Z arms on 0.8 Å linear grids that overlap, FIBERMAP, SCORES."""
    primary = fits.PrimaryHDU()
    primary.header["INFIL000"] = "spectra-main-dark-10000.fits"
    hdus = [
        primary,
        fits.BinTableHDU.from_columns(
            [
                fits.Column("TARGETID", "K", array=np.arange(n_targets)),
                fits.Column("TARGET_RA", "D", array=[10.0 + i for i in range(n_targets)]),
                fits.Column("TARGET_DEC", "D", array=[1.0] * n_targets),
            ],
            name="FIBERMAP",
        ),
    ]
    for arm, lo, hi in (("B", 3600.0, 5800.0), ("R", 5760.0, 7620.0), ("Z", 7520.0, 9824.0)):
        wave = np.arange(lo, hi + 0.01, 0.8)
        flux = np.stack([lined_flux(wave) * (1 + i) for i in range(n_targets)])
        for name, data, unit in (
            ("WAVELENGTH", wave, "Angstrom"), ("FLUX", flux.astype("f4"), "10**-17 erg/(s cm2 Angstrom)"),
            ("IVAR", np.full(flux.shape, 4.0, "f4"), "10**+34 (s2 cm4 Angstrom2) / erg2"),
            ("MASK", np.zeros(flux.shape, "i4"), None),
        ):
            hdu = fits.ImageHDU(data, name=f"{arm}_{name}")
            if unit:
                hdu.header["BUNIT"] = unit
            hdus.append(hdu)
    hdus.append(
        fits.BinTableHDU.from_columns([fits.Column("TARGETID", "K", array=np.arange(n_targets))], name="SCORES")
    )
    fits.HDUList(hdus).writeto(path)
    return path


def test_desi_coadd_through_specutils_merges_arms_and_flags_resolution(tmp_path):
    pytest.importorskip("specutils")
    path = write_desi_coadd(tmp_path / "coadd-main-dark-10000.fits")
    batch = read_spectra(path)
    assert [s.id for s in batch.spectra] == ["coadd-main-dark-10000#1", "coadd-main-dark-10000#2"]
    a, b = batch.spectra
    assert a.meta["format"] == "specutils" and "DESI" in a.meta["specutils_format"]
    assert a.valid_fraction == 1.0 and line_centre(a, HG_VAC) == pytest.approx(HG_VAC, abs=0.3)
    np.testing.assert_allclose(b.flux, 2 * a.flux, rtol=1e-5)
    assert any("DESI nominal" in f for f in a.meta["flags"])


def test_a_fits_catalog_is_not_taken_for_a_specutils_spectrum(tmp_path):
    path = tmp_path / "cat.fits"
    columns = [fits.Column("ra", "D", array=[1.0]), fits.Column("dec", "D", array=[2.0])]
    fits.BinTableHDU.from_columns(columns).writeto(path)
    assert detect_kind(path) == "catalog"


def test_unreliable_is_vectorised_for_score_tables():
    np.testing.assert_array_equal(is_unreliable(np.array([0.5, 0.79, 0.8, 1.0])), [True, True, False, False])


def test_catalog_ids_stay_exact_uint64_and_float_ids_are_refused(tmp_path):
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.readers.candidates import read_candidates

    (tmp_path / "ids.csv").write_text("ra,dec,specobjid\n1,2,10945812567346040832\n3,4,\n5,6,833193731699009536\n")
    t = read_candidates(tmp_path / "ids.csv")
    assert (
        t["specobjid"].dtype == np.uint64 and int(t["specobjid"][0]) == 10945812567346040832 and t["specobjid"].mask[1]
    )
    fits.BinTableHDU.from_columns(
        [
            fits.Column("ra", "D", array=[1.0]), fits.Column("dec", "D", array=[2.0]),
            fits.Column("specobjid", "D", array=[1.0945812567346041e19]),
        ]
    ).writeto(tmp_path / "f.fits")
    with pytest.raises(BadInputError, match="64-bit ids stored as floating point have lost digits"):
        read_candidates(tmp_path / "f.fits")


def test_an_sdss_frame_with_its_tables_is_an_image_not_a_catalog(tmp_path):
    """frame-u-RUN-CAMCOL-FRAME.fits.bz2 as SDSS serves it: a 2-D primary image, then sky and calibration tables."""
    import bz2

    from astropy.io import fits
    from astropy.table import Table

    primary = fits.PrimaryHDU(np.random.default_rng(0).normal(0, 1, (64, 80)).astype(np.float32))
    primary.header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=164.43, CRVAL2=39.04, CRPIX1=40.0, CRPIX2=32.0,
                          CD1_1=-1.1e-4, CD1_2=0.0, CD2_1=0.0, CD2_2=1.1e-4, FILTER="u")
    calib = fits.BinTableHDU(Table({"CALIB": [np.ones(80, np.float32)]}))
    sky = fits.BinTableHDU(Table({"ALLSKY": [np.ones((8, 10), np.float32)], "XINTERP": [np.arange(64.0)],
                                  "YINTERP": [np.arange(80.0)]}))
    plain = tmp_path / "frame-u-003900-6-0269.fits"
    fits.HDUList([primary, calib, sky]).writeto(plain)
    packed = tmp_path / "frame-u-003900-6-0269.fits.bz2"
    packed.write_bytes(bz2.compress(plain.read_bytes()))
    assert detect_kind(plain) == "image" and detect_kind(packed) == "image"


def test_zero_filled_gaps_of_a_spectrum_without_errors_are_masked(tmp_path):
    """A library spectrum with no error array and a zero-filled gap must not read as whole."""
    from astropy.io import fits

    wave = np.arange(3900.0, 9200.0, 1.0)
    flux = np.interp(wave, wavelength(), lined_flux(wavelength()))
    gap = (wave > 5000.0) & (wave < 7000.0)
    flux[gap] = 0.0
    hdu = fits.PrimaryHDU(flux.astype(np.float32))
    hdu.header.update(CRVAL1=3900.0, CDELT1=1.0, CRPIX1=1.0, CTYPE1="WAVE")
    path = tmp_path / "gappy.fits"
    hdu.writeto(path)
    (s,) = read_spectra(path).spectra
    grid_gap = (wavelength() > 5002.0) & (wavelength() < 6998.0)
    assert s.meta["ivar_known"] is False and np.all(s.ivar[grid_gap] == 0) and not s.valid[grid_gap].any()
    assert s.meta["valid_fraction"] < 0.7 and np.all(s.ivar[wavelength() < 4900.0] > 0)


def test_a_spectrum_without_errors_is_weighed_by_its_own_noise(tmp_path):
    """Flux in erg/s/cm²/Å (≈1e-13) and no error array: ivar comes
    from the spectrum's own noise, so the Balmer fit works."""
    from astropy.io import fits

    from bhb_viewer.core.science.balmer import measure_arrays

    grid = wavelength()
    rng = np.random.default_rng(3)
    clean = lined_flux(grid)
    flux = 1e-13 * (clean + rng.normal(0.0, 0.02 * np.median(clean), grid.size))
    hdu = fits.PrimaryHDU(flux.astype(np.float32))
    hdu.header.update(CRVAL1=LOGLAM0, CDELT1=DLOGLAM, CRPIX1=1.0, CTYPE1="WAVE")
    hdu.header["DC-FLAG"] = 1
    path = tmp_path / "library_star.fits"
    hdu.writeto(path)
    (s,) = read_spectra(path).spectra
    sigma = 1.0 / np.sqrt(np.median(s.ivar[s.valid]))
    assert s.meta["ivar_known"] is False and 0.7 < sigma / (0.02e-13 * np.median(clean)) < 1.3
    measured = measure_arrays(s.flux[None, :], s.ivar[None, :])
    assert measured["balmer_ok"][0] and np.isfinite(measured["d02"][0])
