"""The wheel and the sdist carry the shipped files, so an installed (not editable) bhb_viewer finds them.

The project is built offline from a copy of its sources (no build isolation: the venv's setuptools), the
wheel installed into a bare folder, and a Python whose path starts there asked where the catalogues are.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "bhb_viewer" / "resources"
# what the known-star match, the dataset builder, the simulator and the demo read at run time
MUST_SHIP = ("catalogs/xue2011_bhb.dat", "catalogs/xue2011_bhb.ReadMe", "catalogs/bss_candidates.csv",
             "catalogs/barbosa2022_bhb.csv", "catalogs/README.md", "engine/miles_engine.npz",
             "engine/miles_holdout.csv", "filters/sdss2010-g.ecsv", "demo/catalog.ecsv")


def _sources(tmp_path: Path) -> Path:
    """A copy of what a build reads, so building leaves no build/ or egg-info in the checkout."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "bhb_viewer", src / "bhb_viewer", ignore=shutil.ignore_patterns("__pycache__"))
    return src


def test_wheel_and_sdist_carry_every_shipped_file_and_an_install_finds_them(tmp_path):
    src = _sources(tmp_path)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(tmp_path / "dist"), str(src)], check=True)
    (wheel,) = (tmp_path / "dist").glob("bhb_viewer-*.whl")
    shipped = {p.relative_to(SHIPPED).as_posix() for p in SHIPPED.rglob("*") if p.is_file()}
    assert set(MUST_SHIP) <= shipped
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = {
            n.removeprefix("bhb_viewer/resources/") for n in whl.namelist() if n.startswith("bhb_viewer/resources/")
        }
        assert (
            whl.getinfo("bhb_viewer/resources/catalogs/xue2011_bhb.dat").file_size
            == (SHIPPED / "catalogs" / "xue2011_bhb.dat").stat().st_size
        )
    assert in_wheel == shipped  # every shipped file, nothing else under resources/

    subprocess.run([sys.executable, "-c", "from setuptools import build_meta; build_meta.build_sdist('sdist')"],
                   cwd=src, check=True, capture_output=True)
    (sdist,) = (src / "sdist").glob("bhb_viewer-*.tar.gz")
    with tarfile.open(sdist) as tar:
        in_sdist = {n.split("/bhb_viewer/resources/", 1)[1] for n in tar.getnames() if "/bhb_viewer/resources/" in n}
    assert set(MUST_SHIP) <= in_sdist

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True)
    found = subprocess.run(
        [sys.executable, "-c", "from bhb_viewer.core.resources import resource_path; "
                               "print(resource_path('catalogs/xue2011_bhb.dat'))"],
        cwd=tmp_path, env={"PYTHONPATH": str(site)}, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(found) == site / "bhb_viewer" / "resources" / "catalogs" / "xue2011_bhb.dat"
