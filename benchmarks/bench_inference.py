"""Inference throughput of BATMM (lite and paper) and one lite training epoch's time.

Prints candidates/s per batch size on the CPU (and on CUDA with bf16 autocast when present), the
model's GFLOP per candidate (torch's FLOP counter) and the fraction of the device's peak that
throughput reaches. CPU peak comes from a float32 matmul microbenchmark on this machine; the CUDA
peak is the H100's dense bf16 figure (989 TFLOP/s) or, on another GPU, a bf16 matmul measurement.
The training epoch is timed over a few real steps per stage on the default data set (read,
preprocessed and trained exactly as ``fit`` does) and scaled to a full epoch.

    python benchmarks/bench_inference.py [--threads N] [--dataset DIR] [--quick]

The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bhb_viewer.ml.models import build_model, example_inputs, gflops_per_candidate

H100_BF16_DENSE = 989e12
DEFAULT_DATASET = Path("/work/data/sim12032")


def matmul_peak(device: torch.device, dtype: torch.dtype, sizes: tuple[int, ...] = (1024, 2048), reps: int = 5) -> float:
    """Best achieved FLOP/s of square matmuls: the practical peak to compare the models against.

    On a CPU shared with other jobs this is a lower bound of the true peak (a model can then show
    more than 100 %); the figure is only comparable between runs on an equally loaded machine.
    """
    rates = []
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        best = float("inf")
        for _ in range(reps + 1):
            _sync(device)
            t = time.perf_counter()
            a @ b
            _sync(device)
            best = min(best, time.perf_counter() - t)
        rates.append(2 * n**3 / best)
    return max(rates)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(size: str, device: torch.device, batch: int, n_batches: int) -> float:
    """Candidates per second of BATMM ``size`` (best of ``n_batches`` timed batches after one warm-up)."""
    model = build_model("batmm", size).to(device).eval()
    spectrum, image = example_inputs(batch, device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    best = float("inf")
    with torch.inference_mode(), autocast:
        for i in range(n_batches + 1):
            _sync(device)
            t = time.perf_counter()
            model(spectrum, image)
            _sync(device)
            if i:  # the first batch pays for allocation and kernel selection
                best = min(best, time.perf_counter() - t)
    return batch / best


def training_epoch(dataset: Path | None, steps: int, batch_size: int) -> dict:
    """Seconds for one lite BATMM epoch per stage (spectrum, image, fusion), from ``steps`` timed steps each."""
    from bhb_viewer.ml.training import FINETUNE

    model = build_model("batmm", "lite")
    if dataset is not None and (dataset / "manifest.json").is_file():
        from bhb_viewer.core.dataset import open_dataset
        from bhb_viewer.ml.data import StarDataset, make_loader, stratified_split
        from bhb_viewer.ml.preprocess import Preprocessor
        from bhb_viewer.ml.training import stage_modalities

        data = open_dataset(dataset)
        train = stratified_split(data.labels, 0)[0]
        pre = Preprocessor.fit(data, train[:512])  # the statistics do not change the timing

        def batches(stage):
            return make_loader(StarDataset(data, train, pre, stage_modalities("batmm", stage)), batch_size, shuffle=True,
                               max_batches=steps + 1)

        n_train, source = len(train), str(dataset)
    else:
        def batches(stage):
            spectrum, image = example_inputs(batch_size)
            return [{"spectrum": spectrum, "image": image, "label": torch.arange(batch_size) % 2}] * (steps + 1)

        n_train, source = 8422, "synthetic inputs (data set absent): 70 % of 12,032 stars"
    per_stage = {}
    for stage in [s for s in model.stages() if s != FINETUNE]:
        optimizer = torch.optim.AdamW(model.freeze_for(stage), lr=1e-3, weight_decay=5e-2)
        model.train()
        times = []
        t = time.perf_counter()
        for i, batch in enumerate(batches(stage)):
            logits = model(batch.get("spectrum"), batch.get("image"), stage=stage)["logits"]
            loss = torch.nn.functional.cross_entropy(logits, batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            now = time.perf_counter()
            if i:  # the first step warms up
                times.append(now - t)
            t = now
        per_stage[stage] = float(np.median(times)) * (n_train // batch_size)
    return {"source": source, "batch_size": batch_size, "timed_steps_per_stage": steps,
            "epoch_s_per_stage": per_stage, "epoch_s_all_stages": sum(per_stage.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--quick", action="store_true", help="fewer batches and training steps")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = 2 if args.quick else 4
    results: dict = {"threads": torch.get_num_threads(), "gflop_per_candidate": {}, "cpu": {}, "cuda": None}
    for size in ("lite", "paper"):
        results["gflop_per_candidate"][size] = gflops_per_candidate("batmm", size)

    cpu = torch.device("cpu")
    peak = matmul_peak(cpu, torch.float32)
    results["cpu"]["peak_gflops_matmul_fp32"] = peak / 1e9
    for size, batches, n_batches in (("lite", (1, 16, 64, 256), n), ("paper", (1, 8), 2)):
        for batch in batches:
            rate = throughput(size, cpu, batch, n_batches)
            frac = rate * results["gflop_per_candidate"][size] * 1e9 / peak
            results["cpu"][f"{size}_b{batch}"] = {"candidates_per_s": rate, "fraction_of_peak": frac}
            print(f"cpu  {size:5s} batch {batch:4d}: {rate:10.1f} candidates/s  ({100 * frac:.1f} % of matmul peak)", flush=True)

    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        name = torch.cuda.get_device_name(gpu)
        gpu_peak = H100_BF16_DENSE if "H100" in name else matmul_peak(gpu, torch.bfloat16, sizes=(8192,))
        results["cuda"] = {"device": name, "peak_tflops_bf16": gpu_peak / 1e12}
        for size, batches in (("lite", (256, 1024, 4096)), ("paper", (256, 1024, 2048))):
            for batch in batches:
                rate = throughput(size, gpu, batch, 5)
                frac = rate * results["gflop_per_candidate"][size] * 1e9 / gpu_peak
                results["cuda"][f"{size}_b{batch}"] = {"candidates_per_s": rate, "fraction_of_peak": frac}
                print(f"cuda {size:5s} batch {batch:4d}: {rate:10.1f} candidates/s  ({100 * frac:.1f} % of bf16 peak)", flush=True)

    results["train_epoch_lite"] = training_epoch(args.dataset, 3 if args.quick else 6, 64)
    epoch = results["train_epoch_lite"]
    print(f"lite BATMM training epoch ({epoch['source']}): " + ", ".join(
        f"{k} {v:.0f} s" for k, v in epoch["epoch_s_per_stage"].items()) + f"; all stages {epoch['epoch_s_all_stages']:.0f} s", flush=True)
    results["target_lite_cpu_500_per_s"] = max(v["candidates_per_s"] for k, v in results["cpu"].items() if k.startswith("lite_b")) >= 500
    print(json.dumps(results))


if __name__ == "__main__":
    main()
