"""core.readers.spectra.read_native_spectra: a file's spectra over its own range, for the viewer's full-range view."""

import numpy as np
import pytest
from sdss_files import SDSS_LOGLAM0, smooth_flux, write_spec, write_spplate

from bhb_viewer.core.grid import DLOGLAM
from bhb_viewer.core.readers.spectra import read_native_spectra, read_spectra

BOSS_LOGLAM0 = 3.5563  # 3,600 Å
REAL_PLATE = "real/spPlate-4055-55359-0020.fits"


def test_boss_range_is_kept_whole_with_the_ids_of_read_spectra(tmp_path):
    ll = BOSS_LOGLAM0 + DLOGLAM * np.arange(4650)  # 3,600–10,400 Å
    flux = smooth_flux(ll)
    ivar = np.full(ll.size, 4.0)
    ivar[5] = 0.0
    and_mask = np.zeros(ll.size, int)
    and_mask[4600:] = 1 << 24  # NODATA: a bad pixel (BRIGHTSKY and other warnings are not)
    path = write_spec(tmp_path / "spec-3586-55181-0001.fits", ll, flux, ivar, and_mask, plate=3586, mjd=55181, fiber=1)
    (native,) = read_native_spectra(path)
    assert native.id == read_spectra(path).spectra[0].id == "3586-55181-1"
    assert native.wavelength[0] == pytest.approx(3600, abs=0.5) and native.wavelength[-1] > 10_390
    np.testing.assert_allclose(native.flux, flux.astype(np.float32))
    assert native.ivar[5] == 0 and (native.ivar[4600:] == 0).all() and native.ivar[6] == 4.0


def test_every_fiber_of_a_plate_without_ivar(tmp_path):
    ll = SDSS_LOGLAM0 + DLOGLAM * np.arange(3900)
    flux = np.stack([smooth_flux(ll, seed) for seed in range(3)])
    flux[1, 10] = np.nan
    path = write_spplate(tmp_path / "spPlate-4055-55359.fits", SDSS_LOGLAM0, flux)
    native = read_native_spectra(path)
    assert [n.id for n in native] == [s.id for s in read_spectra(path).spectra]
    assert native[1].ivar[10] == 0 and native[1].ivar[11] == 1.0  # no ivar in the file: 1 where finite


def test_real_spplate_matches_the_gridded_reader(shared_data):
    path = shared_data / REAL_PLATE
    if not path.exists():
        pytest.skip("real spPlate not available")
    native = {n.id: n for n in read_native_spectra(path)}
    for grid_spectrum in read_spectra(path).spectra:
        full = native[grid_spectrum.id]
        assert full.wavelength.size > grid_spectrum.flux.size
        i0 = int(np.argmin(np.abs(full.wavelength - 4000.4)))
        np.testing.assert_allclose(full.flux[i0 : i0 + 10], grid_spectrum.flux[:10], rtol=1e-5)
