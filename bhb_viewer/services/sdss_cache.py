"""Where SDSS downloads are kept on disk, and the locks that keep parallel builders from fetching a
file twice: spectra keyed by plate-MJD-fiber (or by position), cutout cubes by position, size and
cutout mode. Files are written under a temporary name first, so an interrupted download never
looks cached.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from astropy.io import fits

from bhb_viewer.core.files import write_atomic
from bhb_viewer.core.grid import CUTOUT_SIZE
from bhb_viewer.core.readers import cutouts
from bhb_viewer.core.readers.candidates import spec_name

CACHE_ENV = "BHB_VIEWER_CACHE"


def default_cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache root: an explicit argument, else $BHB_VIEWER_CACHE, else the user cache dir."""
    if override:
        return Path(override)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("bhb_viewer")) / "sdss"


class SDSSCache:
    """The cache folder's layout, with one lock per file for the threads of one service."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lock(self, path: Path) -> threading.Lock:
        """One lock per cache file, so parallel builders never fetch or write the same file twice."""
        with self._locks_guard:
            return self._locks.setdefault(path, threading.Lock())

    def spectrum_path(self, plate: int, mjd: int, fiber: int) -> Path:
        return self.root / "spectra" / f"{spec_name(plate, mjd, fiber)}.fits"

    def spectrum_path_at(self, ra: float, dec: float) -> Path:
        return self.root / "spectra" / f"at-{ra:.5f}{dec:+.5f}.fits"

    def cube_path(self, ra: float, dec: float, size: int = CUTOUT_SIZE, mode: str = "frames") -> Path:
        """Cached cube of one cutout mode: frames keep the original name, HiPS cubes add ``-hips``."""
        suffix = "" if mode == "frames" else f"-{mode}"
        return self.root / "cubes" / f"cube-{ra:.5f}{dec:+.5f}-{size}{suffix}.fits"

    def write_spectrum(self, path: Path, hdul: fits.HDUList) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, hdul.writeto)

    def find_cube(self, ra: float, dec: float, size: int, modes: Iterable[str]) -> cutouts.Cube | None:
        """The first cube held of ``modes``, its ``meta["cutout_source"]`` naming the mode; else None."""
        for mode in modes:
            path = self.cube_path(ra, dec, size, mode)
            if path.is_file():
                return _tagged(cutouts.read_cube(path), mode)
        return None

    def cube(self, ra: float, dec: float, size: int, mode: str,
             make: Callable[[float, float, int], cutouts.Cube]) -> cutouts.Cube:
        """``make`` the cube of one mode and keep it, unless another thread did so meanwhile."""
        path = self.cube_path(ra, dec, size, mode)
        with self.lock(path):
            if path.is_file():
                cube = cutouts.read_cube(path)
            else:
                cube = make(ra, dec, size)
                path.parent.mkdir(parents=True, exist_ok=True)
                cutouts.write_cube(path, cube)
            return _tagged(cube, mode)


def _tagged(cube: cutouts.Cube, mode: str) -> cutouts.Cube:
    cube.meta["cutout_source"] = mode
    return cube
