"""Fault injection: ``kill -9`` at random moments of a data-set build and of an export leaves the old
state or the new one, never a mix, and the next run clears what the killed one left behind.

(The verdict burst is tests/e2e/test_kill_session.py; train's resume pair is tests/ml.)
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.exports.export import read_provenance

from .corpus import LOGLAM, _frames, _positions, write_spec

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1"
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


@pytest.fixture(scope="module")
def star_files(tmp_path_factory):
    """20 stars: spectra and frames on disk, and two catalogs of them labelled all BHB / all non-BHB."""
    root = tmp_path_factory.mktemp("build")
    positions = _positions(20)
    spectra = root / "spectra"
    spectra.mkdir()
    rows = []
    for i, (ra, dec) in enumerate(positions):
        path = write_spec(
            spectra / f"s{i}.fits", LOGLAM, 50 + i + np.zeros(LOGLAM.size), np.ones(LOGLAM.size), ra=ra, dec=dec
        )
        rows.append((f"star{i}", ra, dec, str(path)))
    _frames(root / "images", positions, size=480)
    for name, label in (("old", "BHB"), ("new", "BSS")):
        t = Table(rows=rows, names=("id", "ra", "dec", "spectrum"))
        t["label"] = label
        t.write(root / f"{name}.ecsv")
    return root


def _build(root: Path, which: str, out: Path) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "bhb_viewer",
        "dataset",
        "build",
        "--catalog",
        str(root / f"{which}.ecsv"),
        "--images",
        str(root / "images"),
        "--size",
        "16",
        "--force",
        "--out",
        str(out),
    ]
    return subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_build_leaves_the_old_data_set_or_the_new_one(star_files, tmp_path):
    out = tmp_path / "ds"
    first = _build(star_files, "old", out)
    start = time.monotonic()
    assert first.wait(120) == 0, first.stderr.read().decode()
    full = time.monotonic() - start  # how long a whole build takes here, to spread the kills over it
    assert len(open_dataset(out)) == 20
    rng = random.Random(12)
    for _ in range(4):
        proc = _build(star_files, "new", out)
        time.sleep(rng.uniform(0.3, 1.1) * full)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        ds = open_dataset(out)  # verifies every file against the manifest's sha256
        labels = set(np.asarray(ds.labels).tolist())
        assert labels in ({1}, {0}), f"a mix: labels {labels}"
        assert ds.manifest["n_bhb"] == (20 if labels == {1} else 0) and len(ds) == 20
    proc = _build(star_files, "new", out)
    assert proc.wait(120) == 0, proc.stderr.read().decode()
    assert set(np.asarray(open_dataset(out).labels).tolist()) == {0}
    assert _leftovers(out.parent) == [], "the next build must clear what killed ones left"


# Dies by SIGKILL at the worst moment of a build: every data file written, the manifest not yet.
KILLED_BEFORE_MANIFEST = r"""
import os, signal, sys
import bhb_viewer.core.dataset as dataset
real = dataset.write_atomic
def write_atomic(path, writer):
    if os.path.basename(path) == "manifest.json":
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path, writer)
dataset.write_atomic = write_atomic
from bhb_viewer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_build_killed_just_before_its_manifest_leaves_the_old_data_set(star_files, tmp_path):
    out = tmp_path / "ds"
    assert _build(star_files, "old", out).wait(120) == 0
    argv = [
        "dataset",
        "build",
        "--catalog",
        str(star_files / "new.ecsv"),
        "--images",
        str(star_files / "images"),
        "--size",
        "16",
        "--force",
        "--out",
        str(out),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_MANIFEST, *argv], env=_env(), capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL
    ds = open_dataset(out)
    assert set(np.asarray(ds.labels).tolist()) == {1} and ds.manifest["n_bhb"] == 20


EXPORTER = r"""
import sys
import numpy as np
from astropy.table import Table
from bhb_viewer.core.exports.export import export_catalog
path, log = sys.argv[1], open(sys.argv[2], "w", buffering=1)
i = 0
while True:
    n = 20000 if i % 2 else 10000
    t = Table({"id": [f"s{k}" for k in range(n)], "ra": np.linspace(0, 1, n), "dec": np.zeros(n)})
    export_catalog(path, t, None, selection="all", states={})
    log.write(f"wrote {n}\n")
    i += 1
"""


@pytest.mark.parametrize("suffix", ["csv", "fits"])
def test_killed_export_leaves_a_whole_file_and_no_litter(tmp_path, suffix):
    target = tmp_path / f"vetted.{suffix}"
    rng = random.Random(suffix)
    for trial in range(3):
        log = tmp_path / f"log{trial}"
        proc = subprocess.Popen(
            [sys.executable, "-c", EXPORTER, str(target), str(log)], env=_env(), stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while (
            (not log.exists() or "wrote" not in log.read_text()) and time.monotonic() < deadline and proc.poll() is None
        ):
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        rows = len(Table.read(target, format="ascii.csv", comment="#") if suffix == "csv" else Table.read(target))
        assert rows in (10000, 20000) and read_provenance(target)["NROWS"] == rows
    from bhb_viewer.core.exports.export import export_catalog

    export_catalog(target, Table({"id": ["a"], "ra": [1.0], "dec": [2.0]}), None, selection="all", states={})
    assert _leftovers(tmp_path) == []
    assert json.dumps(read_provenance(target)["NROWS"]) == "1"
