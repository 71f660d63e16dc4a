"""Chunked table writers: what is written a chunk at a time reads back as one table, in every format."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from bhb_viewer.core.exports.table_stream import open_table_writer


def _table() -> Table:
    return Table({
        "id": np.array(["a1", "b22", "c333", "d4", "e5"]),
        "specobjid": np.array([1, 2, 3, 4, 2**63 + 5], dtype=np.uint64),
        "p_bhb": MaskedColumn([0.1, 0.25, np.nan, 0.4, 0.999], mask=[0, 0, 1, 0, 0]),
        "classical_bhb": np.array([True, False, False, True, False]),
    })


@pytest.mark.parametrize("suffix", [".parquet", ".ecsv", ".csv", ".fits", ".vot"])
def test_chunks_read_back_as_one_table(tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
        pytest.importorskip("pandas")  # astropy's parquet reader needs it
    table, path = _table(), tmp_path / f"out{suffix}"
    with open_table_writer(path, {"model": "batmm", "world_size": 2}) as writer:
        for start in (0, 2, 3):
            writer.write(table[start : {0: 2, 2: 3, 3: 5}[start]])
    assert writer.rows == 5 and [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    back = Table.read(path, **({"format": "ascii.csv", "comment": "#"} if suffix == ".csv" else {}))
    assert list(back["id"]) == list(table["id"])
    np.testing.assert_allclose(np.ma.filled(back["p_bhb"].astype(float)[[0, 1, 3, 4]], np.nan), [0.1, 0.25, 0.4, 0.999])
    assert np.isnan(back["p_bhb"][2]) or np.ma.is_masked(back["p_bhb"][2])
    if suffix not in (".csv", ".vot"):  # CSV has no types; VOTable keeps no uint64
        assert back["specobjid"].dtype == np.uint64 and back["specobjid"][-1] == 2**63 + 5
        assert {k.lower(): v for k, v in back.meta.items()}.get("world_size") == 2


def test_fits_header_counts_every_row_and_verifies(tmp_path):
    from astropy.io import fits

    table, path = _table(), tmp_path / "out.fits"
    with open_table_writer(path) as writer:
        for i in range(5):
            writer.write(table[i : i + 1])
    with fits.open(path) as hdul:
        hdul.verify("exception")
        assert hdul[1].header["NAXIS2"] == 5 and path.stat().st_size % 2880 == 0


def test_a_failure_leaves_no_file_and_a_changed_layout_is_refused(tmp_path):
    path = tmp_path / "out.ecsv"
    with pytest.raises(RuntimeError), open_table_writer(path) as writer:
        writer.write(_table()[:2])
        raise RuntimeError("killed mid-way")
    assert not list(tmp_path.iterdir())
    writer = open_table_writer(path)
    writer.write(_table()[:2])
    with pytest.raises(ValueError, match="columns"):
        writer.write(_table()[["id", "p_bhb"]][2:])
    writer.abort()
    assert not list(tmp_path.iterdir())
