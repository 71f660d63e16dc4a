import json
import re

import numpy as np
import pytest
from astropy.table import Table

from bhb_viewer.core.dataset import open_dataset, write_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.grid import NPIX, wavelength


def test_grid_spans_4000_to_9000_angstrom():
    w = wavelength()
    assert len(w) == NPIX
    assert w[0] == pytest.approx(4000.4, abs=0.1)
    assert w[-1] == pytest.approx(9000, rel=2e-3)


def test_write_then_open_roundtrip(tmp_path):
    n = 3
    cat = Table({"id": ["a", "b", "c"], "ra": [1.0, 2, 3], "dec": [0.0, 1, 2], "label": [1, 0, -1]})
    rng = np.random.default_rng(0)
    spectra = rng.normal(size=(n, NPIX)).astype(np.float32)
    ivar = np.ones((n, NPIX), np.float32)
    cutouts = rng.normal(size=(n, 5, 16, 16)).astype(np.float32)
    write_dataset(tmp_path / "ds", cat, spectra, ivar, cutouts, {"source": "test"})
    ds = open_dataset(tmp_path / "ds")
    assert len(ds) == 3
    assert ds.manifest["n_bhb"] == 1 and ds.manifest["n_non_bhb"] == 1
    np.testing.assert_array_equal(ds.spectra, spectra)
    np.testing.assert_array_equal(ds.cutouts, cutouts)
    assert list(ds.labels) == [1, 0, -1]
    assert isinstance(ds.spectra, np.memmap)


def test_open_rejects_missing_manifest_and_wrong_grid(tmp_path):
    with pytest.raises(BadInputError, match="manifest.json is missing"):
        open_dataset(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "bhb-dataset", "version": 1, "grid": {}}))
    with pytest.raises(BadInputError, match="spectral grid"):
        open_dataset(tmp_path)


@pytest.mark.parametrize("content, problem", [(b"[]", "not a JSON object"), (b"\xff\xfe", "not valid JSON")])
def test_open_names_a_manifest_that_is_not_a_json_object(tmp_path, content, problem):
    (tmp_path / "manifest.json").write_bytes(content)
    with pytest.raises(BadInputError, match=f"^{re.escape(str(tmp_path / 'manifest.json'))}: manifest is {problem}"):
        open_dataset(tmp_path)


def _tiny(path, n=12, labels=None):
    rng = np.random.default_rng(0)
    catalog = Table({"id": [f"s{i}" for i in range(n)], "ra": np.arange(n, dtype=float), "dec": np.zeros(n),
                     "label": np.arange(n) % 2 if labels is None else labels})
    return write_dataset(path, catalog, rng.random((n, NPIX), dtype=np.float32), np.ones((n, NPIX), np.float32),
                         rng.random((n, 5, 8, 8), dtype=np.float32))


def test_a_file_changed_after_the_manifest_is_refused(tmp_path):
    path = _tiny(tmp_path / "ds")
    t = Table.read(path / "catalog.ecsv")
    t["label"] = 0  # what a build killed between catalog and manifest left, before builds were staged
    t.write(path / "catalog.ecsv", overwrite=True)
    with pytest.raises(BadInputError, match="catalog.ecsv: does not match the sha256 in manifest.json"):
        open_dataset(path)
    assert len(open_dataset(path, verify=False)) == 12


def test_labels_other_than_1_0_minus_1_are_refused(tmp_path):
    path = _tiny(tmp_path / "ds", labels=np.array([7] + [1, 0] * 5 + [1]))
    with pytest.raises(BadInputError, match=r"catalog.ecsv: column 'label': 1 rows .* e.g. 7 in row 0"):
        open_dataset(path)


def test_a_set_too_small_to_split_is_refused_with_the_minimum(tmp_path):
    from bhb_viewer.core.dataset import check_trainable

    check_trainable(open_dataset(_tiny(tmp_path / "ok", n=20)))
    with pytest.raises(
        BadInputError, match=r"too few labelled stars to train: 1 non-BHB, 1 BHB; each class needs at least 6"
    ):
        check_trainable(open_dataset(_tiny(tmp_path / "two", n=2)))


def _small(tmp_path, n=12, size=8):
    rng = np.random.default_rng(1)
    cat = Table({"id": [f"s{i}" for i in range(n)], "ra": np.arange(n, dtype=float), "dec": np.zeros(n),
                 "label": np.arange(n) % 2})
    spectra = rng.normal(50, 10, size=(n, NPIX)).astype(np.float32)
    ivar = rng.uniform(0, 2, size=(n, NPIX)).astype(np.float32)
    ivar[:, :5] = [0, 1e-9, 1e-3, 7e4, np.inf]  # masked, below float16's step, small, above its range
    cutouts = rng.normal(size=(n, 5, size, size)).astype(np.float32)
    return cat, spectra, ivar, cutouts


def test_float16_store_halves_the_files_and_keeps_masks(tmp_path):
    from bhb_viewer.core.dataset import read_rows

    cat, spectra, ivar, cutouts = _small(tmp_path)
    write_dataset(tmp_path / "f32", cat, spectra, ivar, cutouts)
    write_dataset(tmp_path / "f16", cat, spectra, ivar, cutouts, dtype="float16")
    half = open_dataset(tmp_path / "f16")
    assert half.manifest["dtype"] == "float16" and half.spectra.dtype == np.float16
    assert (tmp_path / "f16/spectra.npy").stat().st_size < 0.51 * (tmp_path / "f32/spectra.npy").stat().st_size
    back = read_rows(half.ivar, np.arange(len(cat)))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back > 0, ivar > 0)  # nothing valid became masked
    assert np.all(np.isfinite(back[:, 3])) and back[0, 3] == np.finfo(np.float16).max
    np.testing.assert_allclose(read_rows(half.spectra, [3, 1]), spectra[[3, 1]], rtol=1e-3)
    with pytest.raises(ValueError, match="dtype"):
        write_dataset(tmp_path / "x", cat, spectra, ivar, cutouts, dtype="int8")


def test_read_rows_matches_fancy_indexing_in_any_order(tmp_path):
    from bhb_viewer.core.dataset import read_rows

    cat, spectra, ivar, cutouts = _small(tmp_path)
    ds = open_dataset(write_dataset(tmp_path / "ds", cat, spectra, ivar, cutouts))
    rows = np.array([7, 2, 3, 4, 11, 0, 3])
    np.testing.assert_array_equal(read_rows(ds.cutouts, rows), cutouts[rows])
    assert read_rows(ds.spectra, np.zeros(0, int)).shape == (0, NPIX)


def test_sharded_set_reads_as_one_and_names_missing_parts(tmp_path):
    from bhb_viewer.core.dataset import part_name, read_rows, write_sharded_manifest

    cat, spectra, ivar, cutouts = _small(tmp_path)
    top = tmp_path / "sharded"
    bounds = [(0, 5), (5, 12)]
    for k, (a, b) in enumerate(bounds):
        write_sharded_manifest(top, 2)  # every job writes the same top manifest
        if k == 0:
            with pytest.raises(BadInputError, match=r"1 of 2 parts not built yet: part-0001-of-0002"):
                write_dataset(top / part_name(0, 2), cat[a:b], spectra[a:b], ivar[a:b], cutouts[a:b])
                open_dataset(top)
        else:
            write_dataset(top / part_name(k, 2), cat[a:b], spectra[a:b], ivar[a:b], cutouts[a:b])
    ds = open_dataset(top)
    assert len(ds) == 12 and ds.spectra.shape == (12, NPIX) and list(ds.catalog["id"]) == list(cat["id"])
    assert ds.manifest["count"] == 12 and ds.manifest["n_bhb"] == 6 and len(ds.manifest["part_hashes"]) == 2
    rows = np.array([11, 0, 5, 4, 6])
    np.testing.assert_array_equal(ds.cutouts[rows], cutouts[rows])
    np.testing.assert_array_equal(read_rows(ds.spectra, rows), spectra[rows])
    np.testing.assert_array_equal(ds.ivar[4], ivar[4])
    np.testing.assert_array_equal(ds.spectra[3:7, :10], spectra[3:7, :10])
    np.testing.assert_array_equal(np.asarray(ds.labels), np.arange(12) % 2)


def test_scaled16_store_is_half_size_and_reads_back_within_a_step(tmp_path):
    from bhb_viewer.core.dataset import Scaled16Rows, read_rows

    cat, spectra, ivar, cutouts = _small(tmp_path)
    spectra[2, 7] = np.nan
    write_dataset(tmp_path / "f32", cat, spectra, ivar, cutouts)
    ds = open_dataset(write_dataset(tmp_path / "s16", cat, spectra, ivar, cutouts, dtype="scaled16"))
    assert isinstance(ds.spectra, Scaled16Rows) and ds.manifest["dtype"] == "scaled16"
    assert "spectra.scale.npy" in ds.manifest["sha256"]
    for name in ("spectra.npy", "cutouts.npy", "ivar.npy"):
        assert (tmp_path / "s16" / name).stat().st_size < 0.51 * (tmp_path / "f32" / name).stat().st_size
    back = read_rows(ds.spectra, np.arange(len(cat)))
    finite = np.isfinite(spectra)
    span = np.nanmax(spectra, axis=1) - np.nanmin(spectra, axis=1)
    assert np.all(np.abs(back - spectra)[finite] <= (span[:, None] * 1e-4).repeat(NPIX, 1)[finite])
    assert np.isnan(back[2, 7]) and np.isnan(ds.spectra[2][7])
    np.testing.assert_array_equal(ds.ivar[:] > 0, ivar > 0)
    np.testing.assert_allclose(ds.cutouts[[4, 1]], cutouts[[4, 1]], atol=1e-4 * np.ptp(cutouts))


def test_scaled16_cutouts_keep_the_sky_fine_beside_a_bright_neighbour(tmp_path):
    """Cube codes are linear in asinh(x / sky noise): a neighbour 20,000 σ bright would make a
    linear code's step 0.3 σ; here the sky comes back within 1e-3 σ and the peak within 3e-4 of itself."""
    from bhb_viewer.core.dataset import Scaled16Rows

    cat, spectra, ivar, cutouts = _small(tmp_path, n=3, size=32)
    cutouts *= 0.05  # sky noise σ = 0.05 nanomaggy
    cutouts[:, 2, 5, 5] = 1000.0
    cutouts[1, 0, 0, 0] = np.nan
    ds = open_dataset(write_dataset(tmp_path / "s16", cat, spectra, ivar, cutouts, dtype="scaled16"))
    assert ds.cutouts.scale.shape == (3, 3)
    back = ds.cutouts[:]
    sky = np.isfinite(cutouts) & (np.abs(cutouts) < 1.0)
    assert np.max(np.abs(back - cutouts)[sky]) < 1e-3 * 0.05
    assert np.abs(back[:, 2, 5, 5] - 1000.0).max() < 0.3 and np.isnan(back[1, 0, 0, 0])
    legacy = Scaled16Rows(*Scaled16Rows.encode(cutouts))  # a two-column scale file (before asinh codes): linear
    assert legacy.scale.shape == (3, 2)
    np.testing.assert_allclose(legacy.take(np.arange(3))[sky], cutouts[sky], atol=1000.0 / 65534)
