"""Every kind of bad input gives a BadInputError naming the file and the problem; batch readers go on."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from sdss_files import SDSS_LOGLAM0, gaussian_star, smooth_flux, stamp_wcs, write_spec, write_spplate, write_stamp

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.readers.candidates import read_candidates
from bhb_viewer.core.readers.cutouts import cube_from_files, read_cube
from bhb_viewer.core.readers.spectra import read_many_spectra, read_spectra

LL = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)


def _raises(fn, path, *words):
    with pytest.raises(BadInputError) as err:
        fn(path)
    assert err.value.path == str(path) and str(path) in str(err.value)
    for word in words:
        assert word in err.value.problem, err.value.problem
    return err.value.problem


def _good_spec(tmp_path, name="good.fits"):
    return write_spec(tmp_path / name, LL, smooth_flux(LL), np.ones(LL.size))


# --- files that are not (whole) FITS -------------------------------------------------------------


def test_truncated_fits(tmp_path):
    whole = write_spplate(tmp_path / "whole.fits", SDSS_LOGLAM0, np.ones((4, 3900)))
    cut = tmp_path / "cut.fits"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    _raises(read_spectra, cut, "truncated")
    _raises(read_cube, cut, "truncated")


def test_non_fits_file(tmp_path):
    path = tmp_path / "spec-0266-51602-0003.fits"
    path.write_text("<html>404 Not Found</html>")
    _raises(read_spectra, path, "cannot be read")
    _raises(read_cube, path, "cannot be read")
    _raises(read_candidates, path, "cannot read as a fits table")


def test_fits_without_the_expected_hdu(tmp_path):
    image_only = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((4, 4), np.float32)).writeto(image_only)
    _raises(read_spectra, image_only, "not an SDSS spectrum file", "COADD")
    _raises(read_cube, image_only, "bands×N×N")
    _raises(read_candidates, image_only, "table")
    no_coeff = tmp_path / "spPlate-no-coeff.fits"
    fits.PrimaryHDU(np.ones((3, 100), np.float32)).writeto(no_coeff)
    _raises(read_spectra, no_coeff, "COEFF0/COEFF1")


# --- spectra rejected with their reason ----------------------------------------------------------


def test_nan_and_inf_flux_are_rejected(tmp_path):
    flux = smooth_flux(LL)
    flux[400], flux[900] = np.nan, np.inf
    batch = read_spectra(write_spec(tmp_path / "nan.fits", LL, flux, np.ones(LL.size)))
    assert batch.spectra == [] and batch.rejected == [
        ("266-51602-3", "2 NaN/inf flux values in the 4000–9000 Å window")
    ]


def test_nan_flux_at_masked_pixels_is_only_masked(tmp_path):
    flux, ivar = smooth_flux(LL), np.ones(LL.size)
    flux[400], ivar[400] = np.nan, 0
    s = read_spectra(write_spec(tmp_path / "nanmasked.fits", LL, flux, ivar)).spectra[0]
    i = 400 - 221
    assert s.ivar[i] == 0 and np.isfinite(s.flux).all()
    assert s.flux[i] == pytest.approx((flux[399] + flux[401]) / 2, rel=1e-4)  # filled from neighbours


def test_all_zero_ivar_is_rejected(tmp_path):
    batch = read_spectra(write_spec(tmp_path / "zero.fits", LL, smooth_flux(LL), np.zeros(LL.size)))
    assert batch.rejected == [("266-51602-3", "inverse variance is zero across the 4000–9000 Å window")]


def test_coverage_short_of_the_window_is_rejected(tmp_path):
    red = LL[300:]  # starts at 4074 Å, 79 pixels into the window
    batch = read_spectra(write_spec(tmp_path / "red.fits", red, smooth_flux(red), np.ones(red.size)))
    (sid, reason), = batch.rejected
    assert sid == "266-51602-3"
    assert reason == "covers 3443 of 3522 pixels of the 4000–9000 Å window (file spans 4074–9330 Å)"


def test_batch_reader_skips_bad_files_and_keeps_going(tmp_path):
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"\0" * 2880)
    flux = smooth_flux(LL)
    flux[10:] = np.nan
    nan = write_spec(tmp_path / "nan.fits", LL, flux, np.ones(LL.size), fiber=9)
    batch = read_many_spectra(
        [junk, _good_spec(tmp_path), tmp_path / "gone.fits", nan, _good_spec(tmp_path, "again.fits")]
    )
    assert len(batch) == 2
    assert [r[0] for r in batch.rejected] == [str(junk), str(tmp_path / "gone.fits"), "266-51602-9"]
    assert batch.rejected[1][1] == "file not found"


# --- cutouts -------------------------------------------------------------------------------------


def _stamps(tmp_path, bands=BANDS, wcs=True):
    w = stamp_wcs(10.0, 20.0, 20)
    return [
        write_stamp(tmp_path / f"stamp-{b}-t.fits", gaussian_star((20, 20), 9.5, 9.5), w if wcs else None, band=b)
        for b in bands
    ]


def test_missing_band(tmp_path):
    paths = _stamps(tmp_path, bands="ugrz")
    with pytest.raises(BadInputError) as err:
        cube_from_files(paths, 10.0, 20.0, size=8)
    assert "missing band 'i'" in err.value.problem and err.value.path == str(tmp_path)


def test_missing_wcs(tmp_path):
    paths = _stamps(tmp_path, wcs=False)
    with pytest.raises(BadInputError) as err:
        cube_from_files(paths, 10.0, 20.0, size=8)
    assert err.value.path == str(paths[0]) and "no celestial WCS" in err.value.problem


def test_target_outside_every_frame(tmp_path):
    paths = _stamps(tmp_path)
    with pytest.raises(BadInputError) as err:
        cube_from_files(paths, 11.0, 20.0, size=8)
    assert err.value.path == str(paths[0]) and "lies outside the image" in err.value.problem


# --- catalogs ------------------------------------------------------------------------------------


def test_duplicate_ids(tmp_path):
    path = tmp_path / "dup.ecsv"
    Table({"id": ["a", "b", "a"], "ra": [1.0, 2.0, 3.0], "dec": [0.0, 0.0, 0.0]}).write(path)
    _raises(read_candidates, path, "duplicate ids", "'a'", "2 times")


def test_duplicate_derived_ids(tmp_path):
    path = tmp_path / "dup.csv"
    rows = {"plate": [266, 266], "mjd": [51602, 51602], "fiber": [3, 3], "ra": [1.0, 1.1], "dec": [0.0, 0.0]}
    Table(rows).write(path)
    _raises(read_candidates, path, "duplicate ids", "'266-51602-3'")


def test_empty_table(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("id,ra,dec\n")
    _raises(read_candidates, path, "no rows")


def test_wrong_columns(tmp_path):
    path = tmp_path / "wrong.fits"
    Table({"alpha": [1.0], "delta": [2.0]}).write(path)
    problem = _raises(read_candidates, path, "missing column 'ra'/'dec'", "RAdeg/DEdeg")
    assert "['alpha', 'delta']" in problem


def test_half_a_position_and_bad_values(tmp_path):
    half = tmp_path / "half.csv"
    Table({"id": ["a"], "RAJ2000": [1.0]}).write(half)
    _raises(read_candidates, half, "column 'ra' found but no 'dec'")
    bad = tmp_path / "bad.csv"
    Table({"id": ["a", "b"], "ra": [1.0, 2.0], "dec": [0.0, 95.0]}).write(bad)
    _raises(read_candidates, bad, "-90≤dec≤90", "row 1")
    text = tmp_path / "text.csv"
    Table({"id": ["a"], "ra": [1.0], "dec": [0.0], "fiber": ["twelve"]}).write(text)
    _raises(read_candidates, text, "column 'fiber'", "integers", "'twelve'")


def test_strict_valid_pixel_count_on_request(tmp_path):
    ivar = np.ones(LL.size)
    ivar[500:503] = 0
    path = write_spec(tmp_path / "masked.fits", LL, smooth_flux(LL), ivar)
    assert len(read_spectra(path)) == 1  # masked pixels inside the window are kept by default
    batch = read_spectra(path, min_valid=3522)
    assert batch.rejected == [("266-51602-3", "3519 of 3522 pixels valid (ivar > 0, AND mask clear), 3522 required")]


def test_headers_declaring_more_data_than_the_file_holds_are_called_truncated_with_sizes(tmp_path):
    from bhb_viewer.core.readers.fitsfile import open_fits

    header = fits.Header()
    header.update(SIMPLE=True, BITPIX=-32, NAXIS=2, NAXIS1=282_000, NAXIS2=283_700)  # 298 GiB declared
    huge = tmp_path / "huge.fits"
    huge.write_bytes(header.tostring().encode())
    with (
        pytest.raises(
            BadInputError, match=r"is truncated: HDU 0 declares 320,013,600,000 bytes .* the file has 2,880 bytes"
        ),
        open_fits(huge),
    ):
        pass
    fits.PrimaryHDU(np.zeros((40, 40), np.float32)).writeto(tmp_path / "ok.fits")
    short = tmp_path / "short.fits"
    short.write_bytes((tmp_path / "ok.fits").read_bytes()[:4000])
    with (
        pytest.raises(
            BadInputError, match=r"short.fits: FITS file is truncated: HDU 0 declares 6,400 bytes .* 4,000 bytes"
        ),
        open_fits(short),
    ):
        pass
