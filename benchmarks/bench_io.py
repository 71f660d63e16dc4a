"""Reading + preprocessing throughput of the core loaders; the last line printed is one JSON object.

    python benchmarks/bench_io.py [--spectra 200] [--plate-fibers 640] [--cubes 40]

Files are generated in a temporary directory with the test writers (SDSS layouts), so the figures
measure our readers, not a disk cache of someone's downloads:
  * spec files/s: one ``spec-*.fits`` per spectrum, read, put on the grid, min–max scaled (Eq. 16);
  * spPlate spectra/s: one multi-fiber file, the same per spectrum;
  * cubes/s: 5 per-band 100×100 stamps with their own WCS → 64×64 cube, min–max scaled (Eq. 14);
  * the time to load the 4,985-row Xue et al. (2011) CDS table (shipped in bhb_viewer/resources/catalogs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/sdss_files.py
from sdss_files import SDSS_LOGLAM0, gaussian_star, smooth_flux, stamp_wcs, write_spec, write_spplate, write_stamp  # noqa: E402

from bhb_viewer.core.grid import BANDS  # noqa: E402
from bhb_viewer.core.readers.candidates import read_candidates  # noqa: E402
from bhb_viewer.core.readers.cutouts import cube_from_files  # noqa: E402
from bhb_viewer.core.readers.spectra import minmax_scale, read_spectra  # noqa: E402

XUE = ROOT / "bhb_viewer" / "resources" / "catalogs" / "xue2011_bhb.dat"
N_FILE_PIX = 3900


def bench_spec_files(tmp: Path, n: int) -> float:
    ll = SDSS_LOGLAM0 + 1e-4 * np.arange(N_FILE_PIX)
    paths = [
        write_spec(tmp / f"spec-0266-51602-{i + 1:04d}.fits", ll, smooth_flux(ll, i), np.ones(N_FILE_PIX), fiber=i + 1)
        for i in range(n)
    ]
    t0 = time.perf_counter()
    for p in paths:
        for s in read_spectra(p).spectra:
            minmax_scale(s.flux, s.valid)
    return n / (time.perf_counter() - t0)


def bench_spplate(tmp: Path, fibers: int) -> float:
    ll = SDSS_LOGLAM0 + 1e-4 * np.arange(N_FILE_PIX)
    flux = np.stack([smooth_flux(ll, i) for i in range(fibers)])
    path = write_spplate(tmp / "spPlate-4055-55359.fits", SDSS_LOGLAM0, flux, np.ones_like(flux))
    t0 = time.perf_counter()
    batch = read_spectra(path)
    f, iv = batch.stack()
    minmax_scale(f, iv > 0)
    return len(batch) / (time.perf_counter() - t0)


def bench_cubes(tmp: Path, n: int, stamp: int = 100) -> float:
    rng = np.random.default_rng(0)
    sets = []
    for i in range(n):
        ra, dec = 150.0 + i * 0.01, 2.0
        files = []
        for b in BANDS:
            w = stamp_wcs(ra, dec, stamp, crpix=tuple((stamp + 1) / 2 + rng.uniform(-2, 2, 2)))
            x, y = w.world_to_pixel_values(ra, dec)
            image = gaussian_star((stamp, stamp), x, y, sky=0.1) + rng.normal(0, 0.05, (stamp, stamp))
            files.append(write_stamp(tmp / f"stamp-{b}-{i}.fits", image, w))
        sets.append((files, ra, dec))
    t0 = time.perf_counter()
    for files, ra, dec in sets:
        cube = cube_from_files(files, ra, dec)
        minmax_scale(cube.data.reshape(-1), ~cube.mask.reshape(-1))
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spectra", type=int, default=200)
    parser.add_argument("--plate-fibers", type=int, default=640)
    parser.add_argument("--cubes", type=int, default=40)
    args = parser.parse_args()
    result: dict[str, float | int | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        result["spec_files_per_s"] = round(bench_spec_files(tmp, args.spectra), 1)
        print(f"spec-*.fits read + gridded + scaled: {result['spec_files_per_s']:.0f} spectra/s ({args.spectra} files)")
        result["spplate_spectra_per_s"] = round(bench_spplate(tmp, args.plate_fibers), 1)
        print(
            f"spPlate ({args.plate_fibers} fibers) read + gridded + "
            f"scaled: {result['spplate_spectra_per_s']:.0f} spectra/s"
        )
        result["cubes_per_s"] = round(bench_cubes(tmp, args.cubes), 1)
        print(f"5-band cubes from per-band stamps + scaled: {result['cubes_per_s']:.1f} cubes/s ({args.cubes} cubes)")
    if XUE.is_file():
        t0 = time.perf_counter()
        n = len(read_candidates(XUE))
        result["xue2011_load_s"] = round(time.perf_counter() - t0, 3)
        result["xue2011_rows"] = n
        print(f"Xue 2011 CDS table: {n} rows in {result['xue2011_load_s']:.3f} s")
    else:
        result["xue2011_load_s"] = None
        print(f"Xue 2011 table not found at {XUE}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
