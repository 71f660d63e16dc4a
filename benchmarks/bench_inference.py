"""Inference throughput of BATMM (lite and paper) and one lite training epoch's time.

Prints candidates/s per batch size on the CPU (and on CUDA with bf16 autocast, channels-last
images and optionally torch.compile when a GPU is present), the model's GFLOP per candidate
(torch's FLOP counter) and the fraction of the device's peak that throughput reaches. CPU peak
comes from a float32 matmul microbenchmark on this machine; the CUDA peak is the dense bf16 figure
of an H100/H200 (989 TFLOP/s, both SXM) or, on another GPU, a bf16 matmul measurement (the
measured matmul figure is printed as well). The training epoch is timed over a few real steps per
stage on the default data set (read, preprocessed and trained exactly as ``fit`` does) and scaled
to a full epoch.

    python benchmarks/bench_inference.py [--threads N] [--dataset DIR] [--quick] [--no-cpu] [--no-train]
                                         [--compile] [--budget-s S]

Only torch, torchvision and numpy are needed (no astropy) unless the training epoch reads a data set.

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

BF16_DENSE = {"H100": 989e12, "H200": 989e12}  # NVIDIA's dense (no sparsity) bf16 figures, SXM
DEFAULT_DATASET = Path("/work/data/sim12032")


def matmul_peak(
    device: torch.device, dtype: torch.dtype, sizes: tuple[int, ...] = (1024, 2048), reps: int = 5
) -> float:
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


def throughput(size: str, device: torch.device, batch: int, n_batches: int, compile_model: bool = False) -> float:
    """Candidates per second of BATMM ``size`` (best of ``n_batches`` timed batches after one warm-up).

    On CUDA the model and the images are channels-last, as ``bhb score`` runs them there."""
    model = build_model("batmm", size).to(device).eval()
    spectrum, image = example_inputs(batch, device=device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        image = image.contiguous(memory_format=torch.channels_last)
    if compile_model:
        model = torch.compile(model)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )
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
            return make_loader(
                StarDataset(data, train, pre, stage_modalities("batmm", stage)), batch_size, shuffle=True,
                max_batches=steps + 1,
            )

        n_train, source = len(train), str(dataset)
    else:
        def batches(stage):
            spectrum, image = example_inputs(batch_size)
            return [{"spectrum": spectrum, "image": image, "label": torch.arange(batch_size) % 2}] * (steps + 1)

        n_train, source = 8422, "synthetic inputs (data set absent): 70 % of 12,032 stars"
    per_stage = {}
    for stage in [s for s in model.stages() if s != "full"]:  # the end-to-end stage is optional
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
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU figures (a GPU run)")
    parser.add_argument("--no-train", action="store_true", help="skip the training-epoch figure")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model for the CUDA figures")
    parser.add_argument("--sizes", nargs="+", default=["lite", "paper"], choices=("lite", "paper"))
    parser.add_argument(
        "--budget-s", type=float, default=float("inf"), help="stop adding CUDA batch sizes after this long"
    )
    args = parser.parse_args()
    started = time.monotonic()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = 2 if args.quick else 4
    results: dict = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "gflop_per_candidate": {},
        "cpu": {},
        "cuda": None,
    }
    for size in args.sizes:
        results["gflop_per_candidate"][size] = gflops_per_candidate("batmm", size)

    if not args.no_cpu:
        cpu = torch.device("cpu")
        peak = matmul_peak(cpu, torch.float32)
        results["cpu"]["peak_gflops_matmul_fp32"] = peak / 1e9
        for size, batches, n_batches in (("lite", (1, 16, 64, 256), n), ("paper", (1, 8), 2)):
            for batch in batches * (size in args.sizes):
                rate = throughput(size, cpu, batch, n_batches)
                frac = rate * results["gflop_per_candidate"][size] * 1e9 / peak
                results["cpu"][f"{size}_b{batch}"] = {"candidates_per_s": rate, "fraction_of_peak": frac}
                print(
                    f"cpu  {size:5s} batch {batch:4d}: {rate:10.1f} candidates/s  ({100 * frac:.1f} % of matmul peak)",
                    flush=True,
                )
        lite = [v["candidates_per_s"] for k, v in results["cpu"].items() if k.startswith("lite_b")]
        if lite:
            results["target_lite_cpu_500_per_s"] = max(lite) >= 500

    if torch.cuda.is_available():
        results["cuda"] = cuda_figures(args, results["gflop_per_candidate"], started)

    if not args.no_train:
        results["train_epoch_lite"] = training_epoch(args.dataset, 3 if args.quick else 6, 64)
        epoch = results["train_epoch_lite"]
        print(
            f"lite BATMM training epoch ({epoch['source']}): "
            + ", ".join(f"{k} {v:.0f} s" for k, v in epoch["epoch_s_per_stage"].items())
            + f"; all stages {epoch['epoch_s_all_stages']:.0f} s",
            flush=True,
        )
    print(json.dumps(results))


def cuda_figures(args: argparse.Namespace, gflop: dict, started: float) -> dict:
    """Model-only stars/s on the GPU (bf16 autocast, channels-last) and the fraction of bf16 peak."""
    gpu = torch.device("cuda")
    name = torch.cuda.get_device_name(gpu)
    measured = matmul_peak(gpu, torch.bfloat16, sizes=(8192,))
    nominal = next((v for k, v in BF16_DENSE.items() if k in name), None)
    peak = nominal or measured
    out: dict = {
        "device": name,
        "peak_tflops_bf16": peak / 1e12,
        "peak_source": "nominal dense" if nominal else "measured",
        "matmul_tflops_bf16_measured": measured / 1e12,
        "compile": args.compile,
    }
    print(
        f"cuda {name}: bf16 peak {peak / 1e12:.0f} TFLOP/s "
        f"({out['peak_source']}), matmul measured {measured / 1e12:.0f}",
        flush=True,
    )
    for size, batches in (("lite", (256, 1024, 4096)), ("paper", (256, 1024, 2048))):
        for batch in batches * (size in args.sizes):
            if time.monotonic() - started > args.budget_s:
                out["stopped_by_budget"] = True
                return out
            rate = throughput(size, gpu, batch, 5, args.compile)
            frac = rate * gflop[size] * 1e9 / peak
            out[f"{size}_b{batch}"] = {"candidates_per_s": rate, "fraction_of_peak": frac}
            print(
                f"cuda {size:5s} batch {batch:4d}: {rate:10.1f} candidates/s  ({100 * frac:.1f} % of bf16 peak)",
                flush=True,
            )
    paper = [v["candidates_per_s"] for k, v in out.items() if k.startswith("paper_b")]
    if paper:
        out["target_paper_30000_per_s"] = max(paper) >= 30000
    out["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


if __name__ == "__main__":
    main()
