"""Throughput of the classical Balmer diagnostics and of the simulator; the last line printed is one JSON object.

    python benchmarks/bench_balmer_simulate.py [--n 2048]

* simulate spectra/s: catalogue + spectra (no cutouts);
* simulate stars/s: catalogue + spectra + 5×64×64 cutouts (what ``bhb simulate`` writes);
* balmer spectra/s: Hδ and Hγ fits, D0.2/fm/b/c and the cuts on the simulated spectra
  (``bhb score`` runs this over a whole catalogue; the target is ≥ 100 spectra/s on one core).
"""

from __future__ import annotations

import argparse
import json
import time

from bhb_viewer.core.science.balmer import measure_arrays
from bhb_viewer.core.sim import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2048)
    args = parser.parse_args()
    t0 = time.perf_counter()
    sky = simulate(args.n, seed=0, with_cutouts=False)
    spectra, ivar = sky.spectra, sky.ivar
    t1 = time.perf_counter()
    simulate(args.n, seed=0)
    t2 = time.perf_counter()
    measured = measure_arrays(spectra, ivar)
    t3 = time.perf_counter()
    result = {
        "n": args.n,
        "simulate_spectra_per_s": round(args.n / (t1 - t0), 1),
        "simulate_stars_with_cutouts_per_s": round(args.n / (t2 - t1), 1),
        "balmer_spectra_per_s": round(args.n / (t3 - t2), 1),
        "balmer_fit_failures": int((~measured["balmer_ok"]).sum()),
    }
    for k, v in result.items():
        print(f"{k:36s} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
