import numpy as np
import pytest
from astropy.table import Table
from astropy.visualization import ZScaleInterval
from sdss_files import gaussian_star, stamp_wcs, write_stamp

from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import BANDS
from bhb_viewer.core.readers.cutouts import (
    BandImage,
    band_files,
    centre_pixel,
    cube_from_files,
    make_cube,
    read_cube,
    stretch,
    write_cube,
    zscale_limits,
)

RA, DEC = 180.0, 30.0


def centroid(image, mask, size, radius=3.0):
    """Background-subtracted first moment within ``radius`` px of the cube centre."""
    c = centre_pixel(size)
    yy, xx = np.mgrid[:size, :size]
    near = ((xx - c) ** 2 + (yy - c) ** 2 < radius**2) & ~mask
    w = np.clip(image - np.median(image[~mask]), 0, None) * near
    return (w * xx).sum() / w.sum() - c, (w * yy).sum() / w.sum() - c


def _frames(tmp_path, shifts, rotations, size=80, star_ra=RA, star_dec=DEC):
    """One file per band, each with its own WCS and the star at (star_ra, star_dec)."""
    paths = []
    for band, (dx, dy), rot in zip(BANDS, shifts, rotations, strict=False):
        wcs = stamp_wcs(RA, DEC, size, crpix=((size + 1) / 2 + dx, (size + 1) / 2 + dy), rotation_deg=rot)
        x, y = wcs.world_to_pixel_values(star_ra, star_dec)
        paths.append(
            write_stamp(tmp_path / f"frame-{band}-test.fits", gaussian_star((size, size), x, y, sky=0.01), wcs)
        )
    return paths


def test_each_band_is_placed_by_its_own_wcs(tmp_path):
    shifts = [(3.7, -2.2), (0.0, 0.0), (0.3, 0.45), (-1.5, 2.5), (2.25, -0.75)]
    rotations = [0.0, 0.0, 0.0, 5.0, -3.0]
    cube = cube_from_files(_frames(tmp_path, shifts, rotations), RA, DEC, size=32)
    assert cube.data.shape == (5, 32, 32) and cube.data.dtype == np.float32
    assert cube.bands == BANDS and not cube.mask.any()
    for i in range(5):
        dx, dy = centroid(cube.data[i], cube.mask[i], 32)
        assert abs(dx) < 0.05 and abs(dy) < 0.05, (BANDS[i], dx, dy)
        assert cube.data[i].sum() == pytest.approx(100 + 0.01 * 32 * 32, rel=0.02)  # flux kept


def test_frame_edge_is_padded_and_masked(tmp_path):
    size = 40
    off_ra = RA + (size / 2 - 4) * 0.396 / 3600 / np.cos(np.radians(DEC))  # 4 px inside the east edge
    paths = _frames(tmp_path, [(0, 0)] * 5, [0.0] * 5, size=size, star_ra=off_ra)
    cube = cube_from_files(paths, off_ra, DEC, size=32)
    # east is to the left (x decreasing): the cube's left columns fall off the frame
    masked_cols = np.flatnonzero(cube.mask[0].all(axis=0))
    assert masked_cols.tolist() == list(range(masked_cols.max() + 1)) and 10 <= len(masked_cols) <= 13
    assert not cube.mask[0][:, 20:].any()
    assert np.all(cube.data[cube.mask] == 0)
    dx, dy = centroid(cube.data[2], cube.mask[2], 32)
    assert abs(dx) < 0.05 and abs(dy) < 0.05


def test_write_then_read_cube(tmp_path):
    cube = cube_from_files(_frames(tmp_path, [(0.5, 0.5)] * 5, [0.0] * 5), RA, DEC, size=16)
    path = write_cube(tmp_path / "cube.fits", cube)
    back = read_cube(path)
    np.testing.assert_array_equal(back.data, cube.data)
    np.testing.assert_array_equal(back.mask, cube.mask)
    assert back.bands == BANDS
    ra, dec = back.wcs.pixel_to_world_values(centre_pixel(16), centre_pixel(16))
    assert ra == pytest.approx(RA) and dec == pytest.approx(DEC)
    assert back.meta == {"ra": RA, "dec": DEC}


def test_band_files_from_names_and_mapping(tmp_path):
    names = [tmp_path / f"stamp-{b}-1.fits" for b in "zirgu"]
    assert list(band_files(names)) == list(BANDS)
    assert band_files({b: tmp_path / f"x{b}.fits" for b in BANDS})["g"].name == "xg.fits"


def test_make_cube_from_memory_images():
    wcs = stamp_wcs(RA, DEC, 21)
    images = {b: BandImage(gaussian_star((21, 21), 10, 10, flux=i + 1.0), wcs, b) for i, b in enumerate(BANDS)}
    cube = make_cube(images, RA, DEC, size=21)
    assert cube.data[:, 10, 10].argmax() == 4  # z brightest, as built
    assert cube.data[0, 10, 10] == pytest.approx(images["u"].data[10, 10], rel=1e-6)  # aligned: copied



@pytest.mark.parametrize("ra, dec", [(RA + 180, -DEC), (float("nan"), DEC)])
def test_position_the_wcs_cannot_place_names_the_file(ra, dec):
    wcs = stamp_wcs(RA, DEC, 21)
    images = {b: BandImage(np.ones((21, 21), np.float32), wcs, b, f"/data/stamp-{b}.fits") for b in BANDS}
    with pytest.raises(BadInputError, match=r"^/data/stamp-u\.fits: band u: the image's WCS cannot place"):
        make_cube(images, ra, dec, size=21)

@pytest.mark.parametrize("kind", ["linear", "asinh", "zscale"])
def test_stretches_map_to_unit_range_and_keep_order(kind):
    rng = np.random.default_rng(1)
    image = rng.normal(0, 1, (32, 32)) + gaussian_star((32, 32), 16, 16, flux=500)
    mask = np.zeros_like(image, bool)
    mask[0, 0] = True
    out = stretch(image, kind, mask=mask)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1 and out.max() == 1
    assert out[0, 0] == 0
    order = np.argsort(image[~mask])
    assert np.all(np.diff(out[~mask][order]) >= -1e-6)  # monotonic
    if kind == "asinh":  # asinh lifts faint pixels above linear
        assert np.median(out) > np.median(stretch(image, "linear"))



@pytest.mark.parametrize("n", [3, 7, 200, 64 * 64, 5 * 64 * 64])
def test_zscale_limits_are_astropys(n):
    rng = np.random.default_rng(n)
    for sky, noise in [(0.0, 1.0), (-0.3, 0.02), (5.0, 3.0)]:
        image = rng.normal(sky, noise, n)
        image[rng.integers(0, n, n // 50)] += 300.0  # stars and cosmic rays
        image[::11] = np.round(image[::11])  # ties
        assert zscale_limits(image) == pytest.approx(ZScaleInterval().get_limits(image), rel=1e-9, abs=1e-12)

def test_unknown_stretch_is_refused():
    with pytest.raises(ValueError, match="zscale"):
        stretch(np.ones((2, 2)), "log")


def test_real_stamps_centre_the_catalogue_star(shared_data):
    real = shared_data / "real"
    star = Table.read(real / "cat-164.4311-39.0359.fits")[0]
    cube = cube_from_files(sorted(real.glob("stamp-?-164.4311-39.0359.fits")), star["ra"], star["dec"])
    assert cube.data.shape == (5, 64, 64) and cube.bands == BANDS
    # 51-px stamps in a 64-px cube: a padded, masked border; the 50×50 inside is data
    assert np.all(cube.mask.sum(axis=(1, 2)) == 64 * 64 - 50 * 50)
    for i, band in enumerate(BANDS):
        dx, dy = centroid(cube.data[i], cube.mask[i], 64)
        assert np.hypot(dx, dy) < 0.5, (band, dx, dy)


@pytest.mark.parametrize("kind", ["asinh", "linear", "zscale"])
def test_stretch_planes_equals_one_stretch_per_plane(kind):
    from bhb_viewer.core.readers.cutouts import stretch, stretch_planes

    rng = np.random.default_rng(4)
    cube = rng.lognormal(0, 1, (5, 24, 24)) * np.arange(1, 6)[:, None, None]
    each = np.stack([stretch(p, kind) for p in cube])
    np.testing.assert_allclose(stretch_planes(cube, kind), each, atol=1e-6)
    mask = np.zeros(cube.shape, bool)
    mask[2, :3] = True
    cube[2, :3] = 1e6  # under the mask: must not set the limits
    each = np.stack([stretch(p, kind, m) for p, m in zip(cube, mask, strict=True)])
    np.testing.assert_allclose(stretch_planes(cube, kind, mask), each, atol=1e-6)
    with pytest.raises(ValueError, match="unknown stretch"):
        stretch_planes(cube, "log")


def test_galactic_wcs_band_contradictions_and_empty_bands_are_refused(tmp_path):
    from bhb_viewer.core.readers.cutouts import load_band_image

    wcs = stamp_wcs(10.0, 20.0, 24)
    data = gaussian_star((24, 24), 11.5, 11.5)
    gal = wcs.deepcopy()
    gal.wcs.ctype = ["GLON-TAN", "GLAT-TAN"]
    write_stamp(tmp_path / "stamp-g-gal.fits", data, gal, "g")
    with pytest.raises(BadInputError, match="stamp-g-gal.fits: WCS axes are GLON/GLAT"):
        load_band_image(tmp_path / "stamp-g-gal.fits")
    write_stamp(tmp_path / "stamp-i-x.fits", data, wcs, "r")
    with pytest.raises(BadInputError, match="header says band 'r' but the file name says 'i'"):
        load_band_image(tmp_path / "stamp-i-x.fits")
    write_stamp(tmp_path / "plain.fits", data, wcs, "r")
    with pytest.raises(BadInputError, match="given as band 'i' but the file is band 'r'"):
        load_band_image(tmp_path / "plain.fits", "i")
    write_stamp(tmp_path / "stamp-z-nan.fits", np.full((24, 24), np.nan), wcs, "z")
    with pytest.raises(BadInputError, match="band z image has no finite pixel"):
        load_band_image(tmp_path / "stamp-z-nan.fits")
