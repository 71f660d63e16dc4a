"""The review → retrain loop, measured: does vetting the stars the model is unsure of help more than vetting at random?

A simulated pool (default 4,000 stars) and a held-out test set (default 2,000) are drawn from the
project's simulator. Starting from 200 labelled stars, each round "vets" 100 more stars from the pool
(their true, physical class is revealed), retrains, and records the test macro F1. Three ways to choose:

* ``uncertainty``  the stars with |P(BHB) − 0.5| smallest;
* ``disagreement`` the stars where the model's call and the classical Balmer cuts (Xue et al. 2011)
  disagree, strongest disagreement (|P − cut|) first, topped up at random when fewer than 100 disagree
  (a star whose line fit failed has no classical call and never disagrees);
* ``random``       uniformly at random.

All three start from the same 200 stars and the same initial weights (per seed). The model is a
deliberately cheap stand-in for a retrain, so many rounds fit a few minutes: a two-layer network
(MLP, 64 hidden units) on the spectrum model's own preprocessing (masked pixels filled, min–max per
spectrum; ``ml.preprocess``), binned 6:1 to 587 pixels and standardised per pixel over all stars
(no label used); each round warm-starts from the previous round's weights and trains a fixed number
of epochs (AdamW). Images are not used: the benchmark
measures the choice of stars, not the model.

``labels_to_target`` gives, per strategy, the labels needed for its mean curve to reach the random
strategy's final mean F1 (None when it never does).

    python benchmarks/bench_active_learning.py [--quick] [--device auto|cpu|cuda] [--out DIR] [--seeds N]

``--quick`` (2,000 pool, 1,000 test, up to 1,000 labels, one seed) fits in 3 minutes on 2 cores.
``--out DIR`` writes ``active-learning.json`` and ``active-learning.png`` there;
``benchmarks/active_learning_report.py`` turns the JSON into ``docs/results/active-learning.md``.
The last line printed is one JSON object with the curves and ``labels_to_target``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bhb_viewer.core.science.balmer import measure_arrays
from bhb_viewer.core.science.metrics import classification_report
from bhb_viewer.core.sim import SIMULATOR_VERSION, SimulatorConfig, simulate
from bhb_viewer.ml.device import pick_device
from bhb_viewer.ml.preprocess import Preprocessor

STRATEGIES = ("uncertainty", "disagreement", "random")
# A person vetting a spectrum decides what the star is: the physical class. (On the simulator's
# Xue-cut labels the classical cuts share the labels' definition, and "disagreement" would mean little.)
LABELS = "physical"
BIN = 6


def features(flux: np.ndarray, ivar: np.ndarray) -> np.ndarray:
    """The spectrum model's preprocessing, then the mean of each 6 pixels (3522 → 587)."""
    x = Preprocessor(np.zeros(5), np.ones(5)).spectra(flux, ivar)
    n = x.shape[1] // BIN * BIN
    return x[:, :n].reshape(len(x), -1, BIN).mean(axis=2).astype(np.float32)


def make_net(n_in: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Linear(n_in, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 2))


def train(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, batch: int = 64) -> None:
    """``epochs`` passes of AdamW over the labelled stars, warm-started from ``net``'s weights."""
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g).to(x.device)
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


@torch.no_grad()
def p_bhb(net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    net.eval()
    return torch.softmax(net(x), dim=1)[:, 1].float().cpu().numpy()


def pick(strategy: str, p: np.ndarray, classical: np.ndarray, candidates: np.ndarray, k: int,
         rng: np.random.Generator) -> np.ndarray:
    """``k`` pool indices (from ``candidates``) to vet next."""
    if strategy == "uncertainty":
        return candidates[np.argsort(np.abs(p[candidates] - 0.5), kind="stable")[:k]]
    if strategy == "disagreement":
        cls = classical[candidates]
        disagree = np.isfinite(cls) & ((p[candidates] >= 0.5) != (cls >= 0.5))
        strength = np.where(disagree, np.abs(p[candidates] - np.nan_to_num(cls)), -1.0)
        ranked = candidates[np.argsort(-strength, kind="stable")]
        chosen = ranked[: min(k, int(disagree.sum()))]
        rest = np.setdiff1d(candidates, chosen)
        return np.concatenate([chosen, rng.choice(rest, k - len(chosen), replace=False)]) if len(chosen) < k else chosen
    return rng.choice(candidates, k, replace=False)


def run_seed(seed: int, args: argparse.Namespace, device: torch.device) -> dict:
    t0 = time.perf_counter()
    n = args.pool + args.test
    sky = simulate(n, seed=1000 + seed, with_cutouts=False, config=SimulatorConfig(label_kind=LABELS))
    flux, ivar = sky.spectra, sky.ivar
    labels = np.asarray(sky.catalog["label"], dtype=np.int64)
    x_all = features(flux, ivar)
    x_all = (x_all - x_all.mean(axis=0)) / (x_all.std(axis=0) + 1e-6)  # unsupervised: no label is used
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    pool, test = order[: args.pool], order[args.pool :]
    diag = measure_arrays(flux[pool], ivar[pool])
    classical = np.where(diag["balmer_ok"], diag["classical_bhb"].astype(float), np.nan)
    t_data = time.perf_counter() - t0
    xp = torch.from_numpy(x_all[pool]).to(device)
    yp = torch.from_numpy(labels[pool]).to(device)
    xt = torch.from_numpy(x_all[test]).to(device)
    start = rng.choice(args.pool, args.start, replace=False)
    curves: dict[str, list[float]] = {}
    for strategy in STRATEGIES:
        srng = np.random.default_rng([seed, STRATEGIES.index(strategy)])
        labelled = np.zeros(args.pool, dtype=bool)
        labelled[start] = True
        net = make_net(x_all.shape[1], seed).to(device)
        f1s = []
        for r in range(args.rounds + 1):
            idx = torch.from_numpy(np.flatnonzero(labelled)).to(device)
            train(net, xp[idx], yp[idx], args.first_epochs if r == 0 else args.epochs, seed * 1000 + r)
            report = classification_report(labels[test], (p_bhb(net, xt) >= 0.5).astype(np.int64))
            f1s.append(float(report["macro"]["f1"]))
            if r < args.rounds:
                p = p_bhb(net, xp)
                labelled[pick(strategy, p, classical, np.flatnonzero(~labelled), args.batch, srng)] = True
        curves[strategy] = f1s
    return {"seed": seed, "curves": curves, "data_s": t_data, "total_s": time.perf_counter() - t0,
            "n_disagree_start": int(np.sum(np.isfinite(classical)))}


def labels_to_target(labels: list[int], mean_curves: dict[str, list[float]]) -> dict[str, int | None]:
    target = mean_curves["random"][-1]
    out: dict[str, int | None] = {}
    for name, curve in mean_curves.items():
        hit = [n for n, f in zip(labels, curve, strict=True) if f >= target - 1e-12]
        out[name] = hit[0] if hit else None
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name in STRATEGIES:
        mean, std = np.array(result["mean"][name]), np.array(result["std"][name])
        ax.plot(result["labels"], mean, marker="o", ms=3, label=name)
        ax.fill_between(result["labels"], mean - std, mean + std, alpha=0.2)
    ax.axhline(result["mean"]["random"][-1], color="grey", lw=0.8, ls="--", label="random, final")
    ax.set_xlabel("labelled stars")
    ax.set_ylabel("test macro F1")
    ax.set_title(f"Active learning on simulated stars (pool {result['config']['pool']}, "
                 f"{len(result['seeds'])} seed{'s' if len(result['seeds']) > 1 else ''})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 pool, 1,000 test, 8 rounds, 1 seed")
    parser.add_argument("--pool", type=int)
    parser.add_argument("--test", type=int)
    parser.add_argument("--start", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100, help="stars vetted per round")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--epochs", type=int, default=15, help="epochs per round (warm start)")
    parser.add_argument("--first-epochs", type=int, default=40, help="epochs on the first 200 stars")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; default 1 (the network is tiny: more threads only spin)")
    parser.add_argument("--out", metavar="DIR", help="write active-learning.json and active-learning.png here")
    args = parser.parse_args(argv)
    defaults = (2000, 1000, 8, 1) if args.quick else (4000, 2000, 18, 3)
    for name, value in zip(("pool", "test", "rounds", "seeds"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    runs = []
    for seed in range(args.seeds):
        runs.append(run_seed(seed, args, device))
        print(f"seed {seed}: " + "  ".join(f"{s} {runs[-1]['curves'][s][-1]:.4f}" for s in STRATEGIES)
              + f"  ({runs[-1]['total_s']:.0f} s)", flush=True)
    labels = [args.start + r * args.batch for r in range(args.rounds + 1)]
    stack = {s: np.array([r["curves"][s] for r in runs]) for s in STRATEGIES}
    mean = {s: [round(float(v), 4) for v in stack[s].mean(axis=0)] for s in STRATEGIES}
    std = {s: [round(float(v), 4) for v in stack[s].std(axis=0)] for s in STRATEGIES}
    result = {
        "benchmark": "active_learning",
        "model": "MLP 587-64-2 on binned preprocessed spectra, warm start",
        "label_kind": LABELS,
        "simulator_version": SIMULATOR_VERSION,
        "config": {k: getattr(args, k) for k in ("pool", "test", "start", "batch", "rounds", "epochs", "first_epochs")},
        "seeds": list(range(args.seeds)),
        "labels": labels,
        "mean": mean,
        "std": std,
        "curves": {s: [r["curves"][s] for r in runs] for s in STRATEGIES},
        "labels_to_target": labels_to_target(labels, mean),
        "target_f1": mean["random"][-1],
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "host": platform.node(),
        "argv": sys.argv[1:] if argv is None else list(argv),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    for s in STRATEGIES:
        print(f"{s:<13} " + " ".join(f"{v:.3f}" for v in mean[s]))
    print(f"labels to reach random's final F1 {result['target_f1']:.4f}: {result['labels_to_target']}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "active-learning.json").write_text(json.dumps(result, indent=1))
        plot(result, out / "active-learning.png")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
