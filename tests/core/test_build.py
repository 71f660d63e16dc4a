"""Data sets built from files on disk: spectra matched by plate-mjd-fiber or by name, cutouts from frames or cubes."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from sdss_files import SDSS_LOGLAM0, gaussian_star, smooth_flux, stamp_wcs, write_spec, write_stamp

from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import BANDS, NPIX
from bhb_viewer.core.ingest.build import assemble, build_from_files, labels_of
from bhb_viewer.core.progress import Cancelled, CancelToken
from bhb_viewer.core.readers.cutouts import BandImage, centre_pixel, make_cube, write_cube

SIZE = 16
RA0, DEC0 = 150.0, 2.0
LOGLAM = SDSS_LOGLAM0 + 1e-4 * np.arange(3900)  # 3802–9204 Å, on the SDSS grid
OFFSET = int(round((3.6021 - SDSS_LOGLAM0) / 1e-4))  # file pixel of the grid's first pixel


def star_positions(n: int) -> list[tuple[float, float]]:
    step = 20 * 0.396 / 3600  # 20 px apart along RA
    return [(RA0 + (i - n / 2) * step / np.cos(np.radians(DEC0)), DEC0) for i in range(n)]


def write_frames(folder, positions, size=120, skip_band=None):
    """One frame per band holding every star; bands are offset from one another by a few pixels."""
    folder.mkdir(exist_ok=True)
    for k, band in enumerate(BANDS):
        if band == skip_band:
            continue
        wcs = stamp_wcs(RA0, DEC0, size, crpix=((size + 1) / 2 + 1.5 * k, (size + 1) / 2 - 0.7 * k))
        image = np.full((size, size), 0.01)
        for ra, dec in positions:
            x, y = wcs.world_to_pixel_values(ra, dec)
            image += gaussian_star((size, size), x, y)
        write_stamp(folder / f"frame-{band}-000001-1-0001.fits", image, wcs, band)


@pytest.fixture
def disk(tmp_path):
    """Five stars: three good, one whose spectrum file is truncated, one with no spectrum file."""
    spectra, images = tmp_path / "spectra", tmp_path / "images"
    spectra.mkdir()
    positions = star_positions(5)
    rows = []
    for i, (ra, dec) in enumerate(positions):
        plate, mjd, fiber = 300 + i, 51600 + i, 10 + i
        if i < 4:
            path = write_spec(
                spectra / f"spec-{plate:04d}-{mjd:05d}-{fiber:04d}.fits", LOGLAM, smooth_flux(LOGLAM, i) + i,
                np.ones(LOGLAM.size), plate=plate, mjd=mjd, fiber=fiber, ra=ra, dec=dec,
            )
        if i == 3:
            path.write_bytes(path.read_bytes()[:4000])
        rows.append((f"star{i}", ra, dec, plate, mjd, fiber, "BHB" if i % 2 == 0 else "BSS"))
    write_frames(images, positions)
    catalog = Table(rows=rows, names=("id", "ra", "dec", "plate", "mjd", "fiber", "label"))
    catalog.write(tmp_path / "cat.ecsv")
    return tmp_path


def test_build_from_files_keeps_good_stars_and_reports_bad_ones(disk):
    report = build_from_files(
        disk / "out", disk / "cat.ecsv", spectra=disk / "spectra", images=disk / "images", size=SIZE
    )
    assert (report.count, report.n_bhb, report.n_non_bhb) == (3, 2, 1)
    reasons = dict(report.rejected)
    assert set(reasons) == {"star3", "star4"}
    assert "spec-0303-51603-0013.fits:" in reasons["star3"]  # the truncated file, named
    assert "no spectrum file: expected spec-0304-51604-0014.fits" in reasons["star4"]

    ds = open_dataset(disk / "out")
    assert list(ds.catalog["id"]) == ["star0", "star1", "star2"]
    assert ds.labels.tolist() == [1, 0, 1]
    assert ds.spectra.shape == (3, NPIX) and ds.cutouts.shape == (3, 5, SIZE, SIZE)
    expected = smooth_flux(LOGLAM, 1) + 1
    np.testing.assert_allclose(ds.spectra[1], expected[OFFSET:OFFSET + NPIX].astype(np.float32), rtol=1e-6)
    assert np.all(ds.ivar[:] == 1)
    c = centre_pixel(SIZE)
    for cube in ds.cutouts:  # every band centred on its own star, whatever the band's offset
        for band in cube:
            peak_y, peak_x = np.unravel_index(np.argmax(band), band.shape)
            assert abs(peak_x - c) <= 0.5 and abs(peak_y - c) <= 0.5
    log = ds.manifest["provenance"]
    assert log["builder"] == "files" and log["n_input"] == 5 and log["n_rejected"] == 2
    assert {r["id"] for r in log["rejected"]} == {"star3", "star4"}
    assert not (disk / "out" / ".partial").exists()


def test_every_star_rejected_is_an_error_naming_the_first_reasons(disk):
    write_frames(disk / "no_z", star_positions(5), skip_band="z")
    with pytest.raises(BadInputError, match=r"no usable star: all 5 were rejected .*missing band 'z'"):
        build_from_files(disk / "out", disk / "cat.ecsv", spectra=disk / "spectra", images=disk / "no_z", size=SIZE)
    assert not (disk / "out").exists()


def test_catalog_columns_name_spectrum_and_cube_files(tmp_path):
    ra, dec = RA0, DEC0
    write_spec(tmp_path / "a.fits", LOGLAM, smooth_flux(LOGLAM), np.ones(LOGLAM.size))
    wcs = stamp_wcs(ra, dec, 40)
    x, y = wcs.world_to_pixel_values(ra, dec)
    images = {b: BandImage(gaussian_star((40, 40), x, y, flux=10.0 * (k + 1)), wcs, b) for k, b in enumerate(BANDS)}
    write_cube(tmp_path / "a_cube.fits", make_cube(images, ra, dec, SIZE))
    write_cube(tmp_path / "big_cube.fits", make_cube(images, ra, dec, SIZE + 2))
    catalog = Table({"id": ["a", "b"], "ra": [ra, ra], "dec": [dec, dec], "spectrum": ["a.fits", "a"],
                     "cutout": ["a_cube.fits", "big_cube.fits"]})
    catalog.write(tmp_path / "cat.csv")
    report = build_from_files(tmp_path / "out", tmp_path / "cat.csv", label=0, size=SIZE)
    assert report.count == 1 and report.n_non_bhb == 1
    assert "big_cube.fits" in report.rejected[0][1] and f"{SIZE + 2}×{SIZE + 2}" in report.rejected[0][1]
    ds = open_dataset(tmp_path / "out")
    assert ds.cutouts[0].sum(axis=(1, 2)) == pytest.approx([10, 20, 30, 40, 50], rel=0.05)


def test_rows_without_positions_take_the_spectrum_fibre_position(disk):
    Table({"plate": [300, 302], "mjd": [51600, 51602], "fiber": [10, 12]}).write(disk / "pmf.csv")
    report = build_from_files(
        disk / "out", disk / "pmf.csv", spectra=disk / "spectra", images=disk / "images", size=SIZE
    )
    assert report.count == 2
    ds = open_dataset(disk / "out")
    positions = star_positions(5)
    np.testing.assert_allclose(np.c_[ds.catalog["ra"], ds.catalog["dec"]], [positions[0], positions[2]], atol=1e-9)
    assert list(ds.catalog["id"]) == ["300-51600-10", "302-51602-12"]


def test_real_spplate_fibers_and_real_stamps(tmp_path, shared_data):
    real = shared_data / "real"
    stars = Table.read(real / "cat-164.4311-39.0359.fits")
    catalog = Table({"id": ["s1", "s2"], "ra": stars["ra"][:2], "dec": stars["dec"][:2], "plate": [4055, 4055],
                     "mjd": [55359, 55359], "fiber": [1, 20], "label": [1, 0]})
    report = build_from_files(tmp_path / "out", catalog, spectra=real, images=real)
    assert report.count == 2 and report.rejected == []
    ds = open_dataset(tmp_path / "out")
    assert ds.cutouts.shape == (2, 5, 64, 64)
    g = ds.cutouts[0, 1] - np.median(ds.cutouts[0, 1])
    yy, xx = np.mgrid[:64, :64]
    w = np.clip(g, 0, None) * (((xx - 31.5) ** 2 + (yy - 31.5) ** 2) < 16)
    assert abs((w * xx).sum() / w.sum() - 31.5) < 0.5 and abs((w * yy).sum() / w.sum() - 31.5) < 0.5
    assert np.count_nonzero(ds.ivar[1]) > 3000
    skipped = {p.split("/")[-1] for p in (f["path"] for f in ds.manifest["provenance"]["skipped_files"])}
    assert skipped == {"cat-164.4311-39.0359.fits", "spPlate-4055-55359-0020.fits"}


def test_labels_from_numbers_and_words():
    assert labels_of(Table({"label": ["BHB", "bss", " non-BHB", "", "MS"]})).tolist() == [1, 0, 0, -1, 0]
    assert labels_of(Table({"label": [1, 0, -1]})).tolist() == [1, 0, -1]
    assert labels_of(Table({"x": [1, 2]})).tolist() == [-1, -1]
    with pytest.raises(BadInputError, match=r"cat.csv: column 'label': unknown labels \['giant'\]"):
        labels_of(Table({"label": ["BHB", "giant"]}), "cat.csv")
    with pytest.raises(BadInputError, match="expected 1 .BHB., 0"):
        labels_of(Table({"label": [1, 2]}))


def test_assemble_streams_progress_and_honours_cancel(tmp_path):
    catalog = Table({"id": [f"s{i}" for i in range(4)], "label": [1, 0, 1, 0]})
    token = CancelToken()
    events = []

    def load(row):
        if row["id"] == "s2":
            token.cancel()
        return np.ones(NPIX), np.ones(NPIX), np.zeros((5, 4, 4))

    with pytest.raises(Cancelled):
        assemble(tmp_path / "out", catalog, load, size=4, progress=events.append, cancel=token)
    assert [e.done for e in events] == [1, 2, 3] and events[-1].metrics == {"kept": 3, "rejected": 0}
    assert not (tmp_path / "out").exists()


def test_assemble_rejects_wrong_shapes(tmp_path):
    catalog = Table({"id": ["ok", "short", "cube", "ok"]})
    shapes = {"ok": (NPIX, (5, 4, 4)), "short": (100, (5, 4, 4)), "cube": (NPIX, (3, 4, 4))}

    def load(row):
        n, cube = shapes[row["id"]]
        return np.ones(n), np.ones(n), np.full(cube, np.nan)

    report = assemble(tmp_path / "out", catalog, load, size=4)
    assert report.count == 1
    assert report.rejected[2] == ("ok", "duplicate id: an earlier row has it")
    assert [r[0] for r in report.rejected] == ["short", "cube", "ok"]
    assert "(100,)" in report.rejected[0][1] and "(3, 4, 4)" in report.rejected[1][1]
    assert np.all(open_dataset(tmp_path / "out").cutouts[:] == 0)  # NaN padding stored as 0


def test_stamps_are_found_by_position_across_ra_zero(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "spec").mkdir()
    stars = {"west": (359.99, 0.0, 50.0), "east": (0.01, 0.0, 200.0)}
    for name, (ra, dec, flux) in stars.items():
        wcs = stamp_wcs(ra, dec, 31)
        for band in BANDS:
            write_stamp(tmp_path / "img" / f"stamp-{band}-{name}.fits", gaussian_star((31, 31), 15, 15, flux=flux), wcs)
        write_spec(tmp_path / "spec" / f"{name}.fits", LOGLAM, smooth_flux(LOGLAM), np.ones(LOGLAM.size))
    catalog = Table(
        {
            "id": list(stars),
            "ra": [s[0] for s in stars.values()],
            "dec": [0.0, 0.0],
            "spectrum": [f"{n}.fits" for n in stars],
        }
    )
    report = build_from_files(tmp_path / "out", catalog, spectra=tmp_path / "spec", images=tmp_path / "img", size=SIZE)
    assert report.count == 2
    sums = open_dataset(tmp_path / "out").cutouts[:, 2].sum(axis=(1, 2))
    assert sums == pytest.approx([50.0, 200.0], rel=0.05)
