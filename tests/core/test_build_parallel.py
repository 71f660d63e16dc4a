"""Parallel (--workers) and sharded (--shard K/N) builds from files: parts that read as one data set."""

from __future__ import annotations

import numpy as np
import pytest
from sdss_files import write_ingest_corpus

from bhb_viewer.cli import main
from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.ingest.build import build_from_files
from bhb_viewer.core.ingest.build_parallel import build_parallel, ingest_order, parse_shard, shard_rows
from bhb_viewer.core.readers.candidates import read_candidates


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_ingest_corpus(tmp_path_factory.mktemp("ingest"))  # 2 spPlates × 6 fibres + 4 spec files


def _by_id(data) -> dict[str, np.ndarray]:
    return {str(i): np.asarray(data.spectra[k]) for k, i in enumerate(data.catalog["id"])}


def test_plate_rows_are_grouped_and_blocks_cover_every_row_once(corpus):
    table = read_candidates(corpus)
    order = ingest_order(table, corpus.parent / "spectra")
    plates = np.asarray(table["plate"])[order]
    assert np.all(np.diff(plates) >= 0)  # by plate: each spPlate falls into one block
    blocks = [shard_rows(order, k, 3) for k in (1, 2, 3)]
    assert sorted(np.concatenate(blocks).tolist()) == list(range(len(table)))
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x"):
        with pytest.raises(BadInputError, match="K/N"):
            parse_shard(bad)


def test_two_workers_build_the_same_stars_as_one(corpus, tmp_path):
    spectra = corpus.parent / "spectra"
    one = build_from_files(tmp_path / "one", corpus, spectra=spectra, size=16)
    events = []
    two = build_parallel(tmp_path / "two", corpus, 2, spectra=spectra, size=16, progress=events.append)
    assert (
        (two.count, two.n_bhb, two.n_non_bhb, two.rejected)
        == (one.count, one.n_bhb, one.n_non_bhb, [])
        == (16, 8, 8, [])
    )
    data = open_dataset(tmp_path / "two")
    assert data.manifest["parts"] == ["part-0000-of-0002", "part-0001-of-0002"]
    a, b = _by_id(open_dataset(tmp_path / "one")), _by_id(data)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert events[-1].done == events[-1].total == 16


def test_cli_shards_of_a_job_array_open_as_one_set_when_all_are_built(corpus, tmp_path, capsys):
    out = tmp_path / "sharded"
    base = ["dataset", "build", "--catalog", str(corpus), "--spectra", str(corpus.parent / "spectra"), "--size", "16",
            "--out", str(out)]
    assert main([*base, "--shard", "2/3"]) == 0
    with pytest.raises(BadInputError, match="2 of 3 parts not built yet"):
        open_dataset(out)
    assert main([*base, "--shard", "2/3"]) == 1 and "--force" in capsys.readouterr().err  # that part exists
    assert main([*base, "--shard", "1/3"]) == 0 and main([*base, "--shard", "3/3"]) == 0
    data = open_dataset(out)
    assert len(data) == 16 and sorted(data.catalog["id"]) == sorted(read_candidates(corpus)["id"])
    assert main(["dataset", "info", str(out), "--json"]) == 0 and '"count": 16' in capsys.readouterr().out


def test_cli_converts_a_sharded_set_into_one_scaled16_set(corpus, tmp_path):
    spectra = corpus.parent / "spectra"
    build_parallel(tmp_path / "sharded", corpus, 2, spectra=spectra, size=16)
    assert (
        main(["dataset", "convert", str(tmp_path / "sharded"), "--out", str(tmp_path / "half"), "--dtype", "scaled16"])
        == 0
    )
    a, b = open_dataset(tmp_path / "sharded"), open_dataset(tmp_path / "half")
    assert (
        b.manifest["dtype"] == "scaled16"
        and "parts" not in b.manifest
        and list(b.catalog["id"]) == list(a.catalog["id"])
    )
    np.testing.assert_allclose(b.spectra[:], a.spectra[:], atol=1e-4 * float(np.ptp(a.spectra[:])))
    assert (
        main(["dataset", "convert", str(tmp_path / "half"), "--out", str(tmp_path / "half"), "--dtype", "float32"]) == 1
    )


def test_convert_is_staged_and_an_unfinished_set_is_named(corpus, tmp_path, monkeypatch, capsys):
    """A convert killed part-way left arrays without a manifest, which bhb score called 'file not
    found': now the output is written aside and renamed in, and such a folder is named for what it is."""
    import bhb_viewer.core.dataset as dataset_module

    spectra = corpus.parent / "spectra"
    build_parallel(tmp_path / "sharded", corpus, 2, spectra=spectra, size=16)
    half = tmp_path / "half"
    real_save = dataset_module._save

    def killed(path, name, arr, dtype, **kw):
        if name == "ivar.npy":
            raise OSError(28, "No space left on device")  # the write stops between two arrays
        return real_save(path, name, arr, dtype, **kw)

    monkeypatch.setattr(dataset_module, "_save", killed)
    with pytest.raises(OSError, match="No space left"):
        main(["dataset", "convert", str(tmp_path / "sharded"), "--out", str(half), "--dtype", "float16"])
    assert not half.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
    monkeypatch.undo()

    half.mkdir()  # what an unstaged writer left: arrays and catalog, no manifest
    (half / "catalog.ecsv").write_text("# nothing\n")
    np.save(half / "spectra.npy", np.zeros((2, 3), np.float32))
    problem = "unfinished data set: has catalog.ecsv, spectra.npy but no manifest.json"
    with pytest.raises(BadInputError, match=problem):
        open_dataset(half)
    with pytest.raises(BadInputError, match=problem):
        read_candidates(half)  # bhb score's path for an input that is not a finished set
    assert main(["score", str(half), "--model", "none", "--out", str(tmp_path / "s.ecsv")]) != 0
    assert problem in capsys.readouterr().err
    # convert replaces the unfinished folder; an unrelated non-empty folder is refused
    assert main(["dataset", "convert", str(tmp_path / "sharded"), "--out", str(half), "--dtype", "float16"]) == 0
    assert len(open_dataset(half)) == 16
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["dataset", "convert", str(tmp_path / "sharded"), "--out", str(other), "--dtype", "float16"]) == 1
    assert "folder is not empty" in capsys.readouterr().err and (other / "keep.txt").read_text() == "mine"
