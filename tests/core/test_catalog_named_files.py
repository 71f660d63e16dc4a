"""A catalog that names each candidate's files is all ``bhb dataset build --catalog CAT --out DIR`` needs.

Example catalog written by the test: ``stars/cat.csv`` with columns id, ra, dec, label,
spectrum_file and u_file … z_file, naming files relative to the catalog (``spectra/…``,
``stamps/…``), including a LAMOST spectrum and a spectrum-only candidate.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from sdss_files import SDSS_LOGLAM0, gaussian_star, smooth_flux, stamp_wcs, write_spec, write_stamp

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import BANDS, DLOGLAM
from bhb_viewer.core.ingest.build import build_from_files
from bhb_viewer.core.readers.named_files import band_columns

SIZE = 16
LOGLAM = SDSS_LOGLAM0 + DLOGLAM * np.arange(3900)
RA, DEC = 150.0, 2.0


def write_catalog(tmp_path, band_names=BANDS):
    folder = tmp_path / "stars"
    (folder / "spectra").mkdir(parents=True)
    (folder / "stamps").mkdir()
    write_spec(folder / "spectra" / "spec-0500-52000-0001.fits", LOGLAM, smooth_flux(LOGLAM), np.ones(LOGLAM.size),
               plate=500, mjd=52000, fiber=1, ra=RA, dec=DEC)
    wave = 10 ** (3.5682 + DLOGLAM * np.arange(3909))  # a LAMOST LRS file, 5-row layout
    lamost = np.stack([smooth_flux(np.log10(wave)), np.ones(wave.size), wave, np.zeros(wave.size), np.zeros(wave.size)])
    fits.PrimaryHDU(lamost.astype("f4"), fits.Header({"TELESCOP": "LAMOST", "RA": RA + 0.01, "DEC": DEC})).writeto(
        folder / "spectra" / "spec-56982-HD0_sp04-010.fits")
    wcs = stamp_wcs(RA, DEC, 40)
    x, y = wcs.world_to_pixel_values(RA, DEC)
    for k, band in enumerate(BANDS):
        write_stamp(folder / "stamps" / f"a-{band}.fits", gaussian_star((40, 40), x, y, flux=10.0 * (k + 1)), wcs, band)
    rows = {
        "id": ["a", "lamost", "alone"],
        "ra": [RA, RA + 0.01, RA + 0.02],
        "dec": [DEC] * 3,
        "label": ["BHB", "BSS", "BSS"],
        "spectrum_file": [
            "spectra/spec-0500-52000-0001.fits", "spectra/spec-56982-HD0_sp04-010.fits",
            "spectra/spec-0500-52000-0001.fits",
        ],
    }
    for band in band_names:
        rows[f"{band}_file"] = [f"stamps/a-{band}.fits", "", ""]
    Table(rows).write(folder / "cat.csv")
    return folder / "cat.csv"


def test_the_catalog_alone_makes_a_data_set_with_spectrum_only_candidates(tmp_path):
    cat = write_catalog(tmp_path)
    out = tmp_path / "ds"
    assert main(["dataset", "build", "--catalog", str(cat), "--out", str(out), "--size", str(SIZE)]) == 0
    ds = open_dataset(out)
    assert list(ds.catalog["id"]) == ["a", "lamost", "alone"] and ds.labels.tolist() == [1, 0, 0]
    assert ds.catalog["has_cutout"].tolist() == [True, False, False]
    assert ds.manifest["provenance"]["spectrum_only"] == ["lamost", "alone"]
    assert ds.cutouts[0].sum(axis=(1, 2)) == pytest.approx([10, 20, 30, 40, 50], rel=0.05)
    assert not ds.cutouts[1:].any() and (ds.ivar[1] > 0).sum() > 3000
    assert ds.catalog["valid_fraction"].tolist() == [1.0, 1.0, 1.0] and ds.catalog["resolution"].tolist() == [
        2000.0, 1800.0, 2000.0,
    ]


def test_band_columns_must_name_all_five_bands(tmp_path):
    cat = write_catalog(tmp_path, band_names=BANDS[:4])
    report = build_from_files(tmp_path / "ds", cat, size=SIZE)
    assert report.rejected == [("a", "catalog names image files for bands u,g,r,i but not z")]


def test_a_named_file_that_is_missing_rejects_the_candidate(tmp_path):
    cat = write_catalog(tmp_path)
    (cat.parent / "stamps" / "a-r.fits").unlink()
    report = build_from_files(tmp_path / "ds", cat, size=SIZE)
    assert report.rejected[0][0] == "a" and "a-r.fits: file named in the catalog not found" in report.rejected[0][1]


def test_band_column_spellings_never_take_the_magnitude_columns():
    assert band_columns(["g", "u_file", "file_g", "r_image", "image_i", "z_stamp", "r"]) == {
        "u": "u_file", "g": "file_g", "r": "r_image", "i": "image_i", "z": "z_stamp"}


def test_a_catalog_with_nothing_usable_is_still_an_error(tmp_path):
    Table({"id": ["x"], "ra": [1.0], "dec": [1.0]}).write(tmp_path / "cat.csv")
    with pytest.raises(BadInputError, match="no usable star"):
        build_from_files(tmp_path / "ds", tmp_path / "cat.csv", size=SIZE)


def test_compressed_spectra_and_frames_in_folders_are_found_and_read(tmp_path):
    """The real DR7 spSpec as .fit.bz2 matched by plate/MJD/fiber, per-band frames as SDSS serves them (.fits.bz2)."""
    import bz2
    from pathlib import Path

    real = Path(__file__).resolve().parents[1] / "data" / "spSpec-53166-1615-104.fit"
    (tmp_path / "spectra").mkdir()
    (tmp_path / "spectra" / "spSpec-53166-1615-104.fit.bz2").write_bytes(bz2.compress(real.read_bytes()))
    ra, dec = fits.getval(real, "RAOBJ"), fits.getval(real, "DECOBJ")
    (tmp_path / "frames").mkdir()
    wcs = stamp_wcs(ra, dec, 40)
    x, y = wcs.world_to_pixel_values(ra, dec)
    for band in BANDS:
        plain = write_stamp(tmp_path / f"f-{band}.fits", gaussian_star((40, 40), x, y), wcs, band)
        (tmp_path / "frames" / f"frame-{band}-001615-1-0104.fits.bz2").write_bytes(bz2.compress(plain.read_bytes()))
    Table({"plate": [1615], "mjd": [53166], "fiber": [104]}).write(tmp_path / "cat.csv")
    report = build_from_files(
        tmp_path / "ds", tmp_path / "cat.csv", spectra=tmp_path / "spectra", images=tmp_path / "frames", size=SIZE
    )
    assert report.count == 1 and report.rejected == []
    ds = open_dataset(tmp_path / "ds")
    assert ds.catalog["has_cutout"][0] and (ds.ivar[0] > 0).sum() == 3420
    assert ds.catalog["valid_fraction"][0] == pytest.approx(0.971, abs=1e-3)
