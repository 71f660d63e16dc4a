"""End-to-end ``bhb score``: stars/s and peak memory at two data-set sizes; the last line is one JSON object.

    python benchmarks/bench_score.py [--sizes 3000 20000] [--device auto] [--workers N] [--batch-size 256]
                                     [--model DIR] [--dtype float32] [--compile] [--keep DIR]

The data are made here: ``--base`` stars are simulated (core.sim) and tiled to each size (ids
made unique), so the figures measure scoring, not a particular disk's files. Each size is scored by
``bhb score`` in a fresh child process (the shipped lite model by default, .parquet output (.fits
without pyarrow), classical
Balmer diagnostics included), timed inside the child around the command, and reports:

* ``stars_per_s``: end-to-end rate of the stream (reading, preprocessing, Balmer fits, model,
  writing), and ``stars_per_s_with_startup`` with the imports and the model's loading;
* ``peak_rss_mb``: the scoring process's peak resident memory (VmHWM), and ``worker_peak_rss_mb``
  the largest loader worker's; flat in the number of stars when scoring streams;
* ``cuda_peak_mb``: torch's peak allocated GPU memory, on CUDA;
* ``load``: the 1-minute load average before and after (the machine may be shared).

``--compare-second-opinion`` scores each size twice, without and with the physical second opinion
and trust flags (``bhb score --no-second-opinion``), and reports ``second_opinion_ratio``, the
rate with them over the rate without, measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "batmm-lite-sim"


def tile(source: Path, n: int, out: Path, dtype: str) -> Path:
    """A data set of ``n`` stars repeating ``source``'s rows (ids made unique), written block by block."""
    import numpy as np
    from astropy.table import vstack

    from bhb_viewer.core.dataset import open_dataset, write_dataset

    data = open_dataset(source)
    m = len(data)
    catalog = vstack([data.catalog] * -(-n // m))[:n]
    catalog["id"] = [f"t{i:08d}" for i in range(n)]
    out.mkdir(parents=True, exist_ok=True)
    arrays = []
    for name in ("spectra", "ivar", "cutouts"):
        src = getattr(data, name)
        scratch = np.lib.format.open_memmap(out / f".{name}.scratch.npy", "w+", np.float32, (n, *src.shape[1:]))
        for start in range(0, n, m):
            scratch[start : start + m] = src[: min(m, n - start)]
        arrays.append(scratch)
    write_dataset(out, catalog, *arrays, {"tiled_from": str(source)}, dtype=dtype)
    for name in ("spectra", "ivar", "cutouts"):
        (out / f".{name}.scratch.npy").unlink()
    return out


def child(argv: list[str]) -> None:
    """Run ``bhb score`` here, then print timing and memory as one JSON line."""
    from bhb_viewer.cli import main
    from bhb_viewer.ml import scoring

    stream = {}
    score_stream = scoring.score_stream

    def timed(*args, **kwargs):  # the stream alone: without the imports and the model's loading
        t = time.perf_counter()
        try:
            return score_stream(*args, **kwargs)
        finally:
            stream["s"] = time.perf_counter() - t

    scoring.score_stream = timed
    start = time.perf_counter()
    code = main(argv)
    wall = time.perf_counter() - start
    status = Path("/proc/self/status").read_text() if Path("/proc/self/status").exists() else ""
    hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), None)
    result = {
        "code": code,
        "wall_s": wall,
        "stream_s": stream.get("s"),
        "peak_rss_mb": None if hwm is None else hwm / 1024,
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("BENCH " + json.dumps(result), flush=True)


def load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 20000])
    parser.add_argument("--base", type=int, default=1000, help="stars simulated, then tiled to each size")
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None, help="loader workers; default: cores - 1 (at least 1)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, help="torch CPU threads of the scoring process")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "scaled16"))
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--compare-second-opinion", action="store_true",
                        help="also score each size without the second opinion and report the ratio")
    parser.add_argument("--keep", type=Path, help="folder for the data sets (kept); default a temporary one")
    args = parser.parse_args()
    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 2) - 1)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_score-"))
    from bhb_viewer.core.sim import write_simulated

    t = time.perf_counter()
    base = folder / f"sim{args.base}"
    if not (base / "manifest.json").is_file():
        write_simulated(base, n=args.base, seed=0)
    print(f"simulated {args.base} stars in {time.perf_counter() - t:.1f} s", flush=True)
    results: dict = {"device": args.device, "workers": workers, "batch_size": args.batch_size, "dtype": args.dtype,
                     "model": str(args.model), "compile": args.compile, "cpu_count": os.cpu_count(), "sizes": {}}
    suffix = ".parquet" if importlib.util.find_spec("pyarrow") else ".fits"
    results["output"] = suffix
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for n in args.sizes:
        data = folder / f"tiled{n}-{args.dtype}"
        if not (data / "manifest.json").is_file():
            tile(base, n, data, args.dtype)
        argv = ["score", str(data), "--model", str(args.model), "--out", str(folder / f"scores{n}{suffix}"),
                "--device", args.device, "--workers", str(workers), "--batch-size", str(args.batch_size), "--json"]
        argv += ["--compile"] * args.compile + (["--threads", str(args.threads)] if args.threads else [])
        r = run_child(argv, n, env)
        if args.compare_second_opinion and "error" not in r:
            without = run_child([*argv, "--no-second-opinion"], n, env)
            r["without_second_opinion"] = without
            if "error" not in without:
                r["second_opinion_ratio"] = r["stars_per_s"] / without["stars_per_s"]
                print(f"{'':>8}  without the second opinion: {without['stars_per_s']:8.0f} stars/s; "
                      f"ratio with/without {r['second_opinion_ratio']:.3f}", flush=True)
        results["sizes"][n] = r
    print(json.dumps(results))


def run_child(argv: list[str], n: int, env: dict) -> dict:
    """One ``bhb score`` in a fresh process: its timing, memory and load figures (or its error)."""
    before = load()
    proc = subprocess.run([sys.executable, __file__, "--child", *argv], env=env, capture_output=True, text=True)
    lines = [line[6:] for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode or not lines:
        print(f"{n:>8} stars: failed\n{proc.stderr[-2000:]}", flush=True)
        return {"error": proc.stderr[-2000:]}
    r = json.loads(lines[-1])
    summary = next((json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"event": "scored"')), {})
    r.update(
        stars_per_s=n / r["stream_s"], stars_per_s_with_startup=n / r["wall_s"], load_before=before, load_after=load(),
        scored=summary.get("scored"),
    )
    print(
        f"{n:>8} stars: {r['stars_per_s']:8.0f} stars/s end to end, peak RSS "
        f"{r['peak_rss_mb']:.0f} MB (worker {r['worker_peak_rss_mb']:.0f} MB)"
        + (f", CUDA {r['cuda_peak_mb']:.0f} MB" if "cuda_peak_mb" in r else "")
        + f", load {before} -> {r['load_after']}",
        flush=True,
    )
    return r


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
