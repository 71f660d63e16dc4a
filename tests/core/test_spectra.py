import numpy as np
import pytest
from astropy.io import fits
from sdss_files import SDSS_LOGLAM0, smooth_flux, write_spec, write_spplate, write_spspec

from bhb_viewer.core.grid import DLOGLAM, LOGLAM0, NPIX, loglam
from bhb_viewer.core.progress import ProgressEvent
from bhb_viewer.core.readers.spectra import minmax_scale, read_many_spectra, read_spectra, to_grid

OFFSET = int(round((LOGLAM0 - SDSS_LOGLAM0) / DLOGLAM))  # 221 file pixels before the grid starts
N_FILE = 3900  # 3802–9212 Å


def _sdss_loglam(n=N_FILE, start=SDSS_LOGLAM0):
    return start + DLOGLAM * np.arange(n)


def test_spec_file_on_sdss_grid_is_copied_pixel_for_pixel(tmp_path):
    ll = _sdss_loglam()
    flux = smooth_flux(ll)
    ivar = np.full(N_FILE, 4.0)
    path = write_spec(tmp_path / "spec-0266-51602-0003.fits", ll, flux, ivar)
    batch = read_spectra(path)
    assert batch.rejected == [] and len(batch) == 1
    s = batch.spectra[0]
    assert s.id == "266-51602-3"
    assert s.meta["aligned"] and s.meta["format"] == "spec"
    assert s.meta["ra"] == pytest.approx(146.7) and s.meta["z"] == pytest.approx(1e-4)
    np.testing.assert_array_equal(s.flux, flux.astype(np.float32)[OFFSET : OFFSET + NPIX])
    assert s.flux.dtype == np.float32 and s.flux.shape == (NPIX,)
    np.testing.assert_array_equal(s.ivar, 4.0)


def test_masks_from_ivar_and_the_bad_pixel_bits_of_the_and_mask(tmp_path):
    ll = _sdss_loglam()
    ivar = np.full(N_FILE, 2.0)
    ivar[OFFSET + 10] = 0
    and_mask = np.zeros(N_FILE, int)
    and_mask[OFFSET + 20 : OFFSET + 23] = 1 << 24  # NODATA: a bad pixel
    and_mask[OFFSET + 23 : OFFSET + 25] = 1 << 18  # FULLREJECT: a bad pixel
    # BRIGHTSKY, MANYBADCOLUMNS, NEARBADPIXEL: warnings
    and_mask[OFFSET + 30 : OFFSET + 40] = (1 << 23) | (1 << 4) | (1 << 16)
    s = read_spectra(write_spec(tmp_path / "s.fits", ll, smooth_flux(ll), ivar, and_mask)).spectra[0]
    assert np.flatnonzero(s.ivar == 0).tolist() == [10, 20, 21, 22, 23, 24]
    assert s.meta["n_valid"] == NPIX - 6
    assert s.meta["valid_fraction"] == pytest.approx((NPIX - 6) / NPIX, abs=1e-4) and s.meta["flags"] == []


def test_off_grid_file_is_interpolated_with_propagated_ivar():
    half = _sdss_loglam() + 0.5 * DLOGLAM  # pixel centres half-way between grid pixels
    flux = 3.0 + 100.0 * (half - 3.6)  # linear in loglam: interpolation is exact
    g = to_grid(half, flux, np.full(N_FILE, 1.0))
    assert not g.aligned and g.covered.all()
    np.testing.assert_allclose(g.flux, 3.0 + 100.0 * (loglam() - 3.6), rtol=1e-6)
    # mean of two neighbours with ivar 1: variance 0.5, ivar 2
    np.testing.assert_allclose(g.ivar, 2.0, rtol=1e-6)


def test_interpolation_masks_pixels_next_to_bad_ones():
    x = _sdss_loglam() + 0.3 * DLOGLAM
    ivar = np.ones(N_FILE)
    ivar[OFFSET + 100] = 0
    g = to_grid(x, np.ones(N_FILE), ivar)
    # file pixel OFFSET+100 lies between grid pixels 100 and 101; both use it
    assert np.flatnonzero(g.ivar == 0).tolist() == [100, 101]


def test_float32_loglam_still_counts_as_aligned():
    ll = _sdss_loglam().astype(np.float32)
    assert to_grid(ll, np.ones(N_FILE), np.ones(N_FILE)).aligned


def test_spspec_rows_give_flux_error_and_mask(tmp_path):
    ll = _sdss_loglam()
    flux = smooth_flux(ll, seed=1)
    err = np.full(N_FILE, 0.5)
    err[OFFSET + 5] = 0  # no error estimate: masked
    mask = np.zeros(N_FILE)
    mask[OFFSET + 7] = 4
    path = write_spspec(tmp_path / "spSpec-51630-0266-007.fit", SDSS_LOGLAM0, flux, err, mask)
    s = read_spectra(path).spectra[0]
    assert s.id == "266-51630-7" and s.meta["format"] == "spSpec"
    assert s.meta["ra"] == pytest.approx(150.1) and s.meta["z"] == pytest.approx(2e-4)
    np.testing.assert_array_equal(s.flux, flux.astype(np.float32)[OFFSET : OFFSET + NPIX])
    assert np.flatnonzero(s.ivar != 4.0).tolist() == [5, 7]
    assert s.ivar[5] == 0 and s.ivar[7] == 0


def test_spplate_with_ivar_andmask_and_plugmap(tmp_path):
    ll = _sdss_loglam()
    flux = np.stack([smooth_flux(ll, seed=i) for i in range(3)])
    ivar = np.ones_like(flux)
    ivar[1] = 0  # one dead fiber
    andmask = np.zeros(flux.shape, int)
    andmask[2, OFFSET + 3] = 1
    path = write_spplate(
        tmp_path / "spPlate-4055-55359.fits", SDSS_LOGLAM0, flux, ivar, andmask, ([10.0, 11.0, 12.0], [1.0, 2.0, 3.0])
    )
    batch = read_spectra(path)
    assert batch.ids == ["4055-55359-101", "4055-55359-103"]
    assert batch.rejected == [("4055-55359-102", "inverse variance is zero across the 4000–9000 Å window")]
    assert batch.spectra[1].meta["ra"] == 12.0 and batch.spectra[1].ivar[3] == 0
    f, iv = batch.stack()
    assert f.shape == (2, NPIX) and iv.dtype == np.float32


def test_real_spplate_reads_20_spectra_on_the_grid(shared_data):
    path = shared_data / "real" / "spPlate-4055-55359-0020.fits"
    raw = fits.getdata(path)
    head = fits.getheader(path)
    offset = (LOGLAM0 - head["COEFF0"]) / DLOGLAM
    assert offset == pytest.approx(round(offset), abs=1e-6)  # the file is on the SDSS grid
    batch = read_spectra(path)
    assert len(batch) == 20 and batch.rejected == []
    assert batch.ids[0] == "4055-55359-1" and batch.ids[-1] == "4055-55359-20"
    flux, ivar = batch.stack()
    np.testing.assert_array_equal(flux, raw[:, int(round(offset)) : int(round(offset)) + NPIX])
    assert all(s.meta["aligned"] and not s.meta["ivar_known"] for s in batch.spectra)
    # flux only: each spectrum is weighed by its own pixel noise (DER_SNR over the whole file row)
    from bhb_viewer.core.readers.spectra import own_noise

    np.testing.assert_allclose(
        ivar, np.broadcast_to(1.0 / own_noise(raw.astype(np.float64))[:, None] ** 2, ivar.shape), rtol=1e-5
    )


def test_minmax_scale_eq16():
    x = np.array([[2.0, 4.0, 6.0], [5.0, 5.0, 5.0]])
    np.testing.assert_allclose(minmax_scale(x), [[0, 0.5, 1], [0, 0, 0]])
    spiky = np.array([1.0, 2.0, 3.0, -100.0])
    valid = np.array([True, True, True, False])
    np.testing.assert_allclose(minmax_scale(spiky, valid), [0, 0.5, 1, 0])


def test_read_many_skips_bad_files_and_reports_progress(tmp_path):
    ll = _sdss_loglam()
    good = write_spec(tmp_path / "good.fits", ll, smooth_flux(ll), np.ones(N_FILE))
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"not a fits file at all")
    events: list[ProgressEvent] = []
    batch = read_many_spectra([junk, good], progress=events.append)
    assert batch.ids == ["266-51602-3"]
    assert batch.rejected[0][0] == str(junk) and "FITS" in batch.rejected[0][1]
    assert [e.done for e in events] == [1, 2] and events[-1].metrics == {"accepted": 1, "rejected": 1}


def test_spall_columns_read_directly_match_astropy_and_gzip_works(tmp_path):
    import gzip

    ll = _sdss_loglam()
    path = write_spec(tmp_path / "spec.fits", ll, smooth_flux(ll), np.ones(N_FILE))
    with fits.open(path) as hdul:  # add a text and an array column, as real SPALL rows have
        cols = hdul["SPALL"].columns + fits.ColDefs(
            [fits.Column("CLASS", "6A", array=["STAR"]), fits.Column("SPECOBJID", "K", array=[299489952322985984]),
             fits.Column("MAG", "5E", array=[[19.0, 17.5, 17.4, 17.4, 17.5]])]
        )
        hdul["SPALL"] = fits.BinTableHDU.from_columns(cols, name="SPALL")
        hdul.writeto(path, overwrite=True)
    meta = read_spectra(path).spectra[0].meta
    assert meta["class"] == "STAR" and meta["specobjid"] == 299489952322985984 and meta["plate"] == 266
    gz = tmp_path / "spec.fits.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    s = read_spectra(gz).spectra[0]
    assert s.meta["class"] == "STAR"
    np.testing.assert_array_equal(s.flux, read_spectra(path).spectra[0].flux)
