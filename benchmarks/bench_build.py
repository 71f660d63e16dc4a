"""Ingest throughput of ``bhb dataset build`` from files on disk at 1 and 2 (or more) workers.

    python benchmarks/bench_build.py [--spec-files 120] [--plates 2] [--fibers 200] [--workers 1 2]

Files are generated in a temporary folder with the test writers (SDSS layouts, as bench_io does):
one set of ``spec-*.fits`` files (one spectrum per file) and one of ``spPlate`` files (many fibres
per file), each star naming one small cube file, so the figures are dominated by the spectra.
Each set is built with ``core.ingest.build.build_from_files`` (1 worker) or ``core.ingest.build_parallel``
(N workers, N parts) and reported as stars/s: spec files/s and spPlate spectra/s. The last line is
one JSON object; the load average is printed with it because the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/sdss_files.py
from sdss_files import write_ingest_corpus  # noqa: E402

from bhb_viewer.core.ingest.build import build_from_files  # noqa: E402
from bhb_viewer.core.ingest.build_parallel import build_parallel  # noqa: E402


def rate(catalog: Path, workers: int, out: Path) -> float:
    """Stars per second of one build of ``catalog`` with ``workers`` processes (1: the serial builder)."""
    spectra = catalog.parent / "spectra"
    start = time.perf_counter()
    if workers == 1:
        report = build_from_files(out, catalog, spectra=spectra, size=16)
    else:
        report = build_parallel(out, catalog, workers, spectra=spectra, size=16)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return report.count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec-files", type=int, default=120)
    parser.add_argument("--plates", type=int, default=2)
    parser.add_argument("--fibers", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_build-"))
    try:
        spec = write_ingest_corpus(tmp / "spec", n_plates=0, n_spec=args.spec_files)
        plate = write_ingest_corpus(tmp / "plate", n_plates=args.plates, fibers=args.fibers, n_spec=0)
        results: dict = {
            "spec_files": args.spec_files,
            "spplate_spectra": args.plates * args.fibers,
            "cpu_count": os.cpu_count(),
        }
        for workers in args.workers:
            results[f"spec_files_per_s_w{workers}"] = rate(spec, workers, tmp / "out")
            results[f"spplate_spectra_per_s_w{workers}"] = rate(plate, workers, tmp / "out")
            print(f"{workers} worker(s): {results[f'spec_files_per_s_w{workers}']:7.1f} spec files/s, "
                  f"{results[f'spplate_spectra_per_s_w{workers}']:7.1f} spPlate spectra/s", flush=True)
        results["load"] = os.getloadavg()[0]
        print(json.dumps(results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
