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
    with pytest.raises(BadInputError, match=r"too few labelled stars to train: 1 non-BHB, 1 BHB; each class needs at least 6"):
        check_trainable(open_dataset(_tiny(tmp_path / "two", n=2)))
