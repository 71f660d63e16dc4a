"""Streaming scoring: float16 stores score like float32, and two torchrun ranks (gloo, CPU) write the
single-process result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

import bhb_viewer
from bhb_viewer.cli import main
from bhb_viewer.core.dataset import open_dataset, write_dataset
from bhb_viewer.core.sim import write_simulated

ROOT = Path(bhb_viewer.__file__).resolve().parents[1]
MODEL = ROOT / "models" / "batmm-lite-sim"  # the shipped lite model: 64-pixel cutouts, no training needed


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return write_simulated(tmp_path_factory.mktemp("score") / "sim", n=40, seed=11)


def _score(args: list[str]) -> None:
    assert main(["score", *args, "--model", str(MODEL), "--threads", "1", "--json"]) == 0


def test_16_bit_store_scores_within_1e3_of_float32(sim, tmp_path):
    data = open_dataset(sim)
    half = write_dataset(tmp_path / "half", data.catalog, data.spectra, data.ivar, data.cutouts, dtype="scaled16")
    assert (half / "cutouts.npy").stat().st_size < 0.51 * (sim / "cutouts.npy").stat().st_size
    _score([str(sim), "--out", str(tmp_path / "f32.parquet"), "--workers", "0"])
    _score([str(half), "--out", str(tmp_path / "f16.parquet"), "--workers", "0"])
    a, b = (Table.read(tmp_path / f"{k}.parquet") for k in ("f32", "f16"))
    assert len(a) == len(b) == 40
    diff = np.abs(np.asarray(a["p_bhb"]) - np.asarray(b["p_bhb"]))
    assert diff.max() < 1e-3, diff.max()
    assert np.mean(np.asarray(a["classical_bhb"]) == np.asarray(b["classical_bhb"])) >= 0.95


def test_batches_workers_and_formats_do_not_change_the_scores(sim, tmp_path):
    _score([str(sim), "--out", str(tmp_path / "a.ecsv"), "--workers", "0", "--batch-size", "40"])
    _score([str(sim), "--out", str(tmp_path / "b.fits"), "--workers", "2", "--batch-size", "7"])
    a, b = Table.read(tmp_path / "a.ecsv"), Table.read(tmp_path / "b.fits")
    np.testing.assert_allclose(b["p_bhb"], a["p_bhb"], atol=1e-6)
    np.testing.assert_allclose(b["d02"], a["d02"], equal_nan=True)
    assert list(b["id"]) == list(a["id"]) and a.meta["world_size"] == 1


def test_torchrun_two_ranks_match_one_process(sim, tmp_path):
    """torchrun --nproc-per-node 2 -m bhb_viewer score: gloo on CPU, one output, world_size 2."""
    single, ranked = tmp_path / "one.ecsv", tmp_path / "two.ecsv"
    common = ["--model", str(MODEL), "--batch-size", "6", "--workers", "0", "--json"]
    _score([str(sim), "--out", str(single), "--batch-size", "6", "--workers", "0"])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "bhb_viewer", "score", str(sim), "--out", str(ranked), *common],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"world_size": 2' in proc.stdout and proc.stdout.count('"event": "scored"') == 1  # rank 0 reports
    a, b = Table.read(single), Table.read(ranked)
    assert b.meta["world_size"] == 2 and list(b["id"]) == list(a["id"])
    np.testing.assert_allclose(b["p_bhb"], a["p_bhb"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(b["c_hg"], a["c_hg"], atol=1e-6, equal_nan=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the ranks' parts are gone


def test_catalog_stars_missing_from_the_data_set_are_masked_rows(sim, tmp_path, capsys):
    catalog = Table.read(sim / "catalog.ecsv", format="ascii.ecsv")[["id", "ra", "dec"]][:5]
    catalog["id"][[1, 3]] = ["nowhere-1", "nowhere-3"]
    catalog["ra"][[1, 3]] = [10.0, 20.0]  # far from every star of the data set
    catalog.write(tmp_path / "list.ecsv")
    capsys.readouterr()
    _score([str(tmp_path / "list.ecsv"), "--dataset", str(sim), "--out", str(tmp_path / "out.fits"),
            "--batch-size", "2", "--workers", "0"])
    assert '"not_found": 2' in capsys.readouterr().out
    out = Table.read(tmp_path / "out.fits")
    assert list(out["id"]) == list(catalog["id"])
    p = np.asarray(out["p_bhb"], dtype=float)
    assert np.isnan(p[[1, 3]]).all() and np.isfinite(p[[0, 2, 4]]).all()
