"""The review → retrain loop with BATMM itself: does fine-tuning the shipped model on a person's
verdicts from another sky help, and does training from scratch on them?

The shipped model (models/batmm-lite-sim) learnt on the simulator's empirical engine. The
person's stars come from a shifted sky: ``bhb simulate --engine parametric`` (another spectral
engine, same classes). A pool and a held-out test set are drawn from that sky with different
seeds. For each budget of verdicts (a random draw from the pool, true classes revealed) and seed:

* ``no_retrain``  the shipped model as it is;
* ``fine_tune``   ``bhb train --init-from`` the shipped model (encoders frozen, lr 1e-4, its
  preprocessing kept);
* ``scratch``     a new lite BATMM (lr 1e-3, three stages).

and at one budget, fine-tuning on the stars the shipped model is least sure of (|P − 0.5|
smallest, ``uncertainty``) against a random draw (``random``). Every model is scored on the same
held-out stars: AUC and macro F1 at 0.5; paired differences against ``no_retrain`` per seed,
reported as mean ± standard deviation over seeds.

    python benchmarks/bench_finetune.py [--quick] [--out DIR] [--seeds N] [--threads T]

``--quick``: 600-star pool, 400 held out, budgets 50 and 100, 2 seeds, 6 epochs (a few minutes on
2 cores). The full run: 2,000 pool, 1,500 held out, budgets 50/100/200/500, 3 seeds, 10 epochs.
``--out DIR`` writes ``finetune.json`` and ``finetune.png``. The last line printed is one JSON
object: ``no_retrain``, ``fine_tune``, ``scratch`` (budget → mean AUC) and ``order``
({uncertainty, random} mean AUC at the order budget), with the full figures beside them.
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
sys.path.insert(0, str(ROOT))

from bhb_viewer.core.dataset import open_dataset, write_dataset  # noqa: E402
from bhb_viewer.core.sim import SimulatorConfig  # noqa: E402
from bhb_viewer.core.sim.sky import write_simulated  # noqa: E402
from bhb_viewer.ml.training import TrainConfig, fit, scores_report  # noqa: E402

SHIPPED = ROOT / "models" / "batmm-lite-sim"


def score(model_dir: Path, ds) -> np.ndarray:
    from bhb_viewer.ml.inference import Predictor

    predictor = Predictor(model_dir, device="cpu")
    return np.concatenate([b.p_bhb for b in predictor.predict(np.asarray(ds.spectra), np.asarray(ds.ivar),
                                                              np.asarray(ds.cutouts))])


def figures(labels: np.ndarray, p: np.ndarray) -> dict[str, float]:
    report = scores_report(labels, p)
    return {"auc": float(report["auc"]), "f1": float(report["macro"]["f1"])}


def subset(pool, rows: np.ndarray, path: Path) -> Path:
    rows = np.sort(rows)
    return write_dataset(path, pool.catalog[rows], np.asarray(pool.spectra)[rows], np.asarray(pool.ivar)[rows],
                         np.asarray(pool.cutouts)[rows])


def train(data: Path, out: Path, seed: int, epochs: int, threads: int, warm: bool) -> Path:
    config = TrainConfig(dataset=str(data), out=str(out), seed=seed, epochs=epochs, patience=max(3, epochs // 2),
                         batch_size=32, threads=threads, device="cpu",
                         lr=1e-4 if warm else 1e-3, init_from=str(SHIPPED) if warm else None)
    return fit(config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    quick = args.quick
    n_pool, n_test = (600, 400) if quick else (2000, 1500)
    budgets = (50, 100) if quick else (50, 100, 200, 500)
    order_budget = 100
    seeds = range(args.seeds or (2 if quick else 3))
    epochs = 6 if quick else 10
    started = time.monotonic()
    engine = SimulatorConfig(engine="parametric")
    results: dict[str, dict[int, list[dict[str, float]]]] = {k: {} for k in ("no_retrain", "fine_tune", "scratch")}
    order: dict[str, list[dict[str, float]]] = {"uncertainty": [], "random": []}
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp_name:
        tmp = Path(tmp_name)
        pool = open_dataset(write_simulated(tmp / "pool", n=n_pool, seed=101, config=engine))
        test = open_dataset(write_simulated(tmp / "test", n=n_test, seed=202, config=engine))
        y_test = np.asarray(test.labels)
        base = figures(y_test, score(SHIPPED, test))
        p_pool = score(SHIPPED, pool)
        print(f"shifted sky (parametric engine): pool {n_pool}, held out {n_test}; shipped model AUC "
              f"{base['auc']:.4f} F1 {base['f1']:.4f}", flush=True)
        for seed in seeds:
            rng = np.random.default_rng(seed)
            drawn = rng.permutation(n_pool)
            for budget in budgets:
                rows = drawn[:budget]
                data = subset(pool, rows, tmp / f"v{seed}-{budget}")
                results["no_retrain"].setdefault(budget, []).append(base)
                for kind, warm in (("fine_tune", True), ("scratch", False)):
                    run = train(data, tmp / f"{kind}{seed}-{budget}", seed, epochs, args.threads, warm)
                    got = figures(y_test, score(run, test))
                    results[kind].setdefault(budget, []).append(got)
                    print(f"seed {seed} budget {budget:4d} {kind:9s} AUC {got['auc']:.4f} F1 {got['f1']:.4f} "
                          f"({time.monotonic() - started:.0f} s)", flush=True)
                    if kind == "fine_tune" and budget == order_budget:
                        order["random"].append(got)
            unsure = np.argsort(np.abs(p_pool - 0.5))[:order_budget]
            run = train(subset(pool, unsure, tmp / f"u{seed}"), tmp / f"unsure{seed}", seed, epochs, args.threads, True)
            got = figures(y_test, score(run, test))
            order["uncertainty"].append(got)
            print(f"seed {seed} budget {order_budget:4d} uncertainty-ordered fine_tune AUC {got['auc']:.4f} "
                  f"F1 {got['f1']:.4f}", flush=True)
    summary = summarise(results, order, budgets)
    summary.update(quick=quick, pool=n_pool, held_out=n_test, seeds=len(seeds), epochs=epochs,
                   seconds=round(time.monotonic() - started, 1), shifted_sky="simulate --engine parametric",
                   base_model=SHIPPED.name)
    for kind in ("fine_tune", "scratch"):
        for budget in budgets:
            d = summary["paired_auc_vs_no_retrain"][kind][str(budget)]
            print(f"{kind:9s} − no_retrain at {budget:4d}: AUC {d['mean']:+.4f} ± {d['std']:.4f}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "finetune.json").write_text(json.dumps(summary, indent=1))
        plot(summary, budgets, args.out / "finetune.png")
    print(json.dumps(summary))
    return 0


def summarise(results, order, budgets) -> dict:
    def mean(rows, key):
        return float(np.mean([r[key] for r in rows]))

    out: dict = {kind: {str(b): mean(results[kind][b], "auc") for b in budgets} for kind in results}
    out["order"] = {k: mean(v, "auc") for k, v in order.items()}
    out["macro_f1"] = {kind: {str(b): mean(results[kind][b], "f1") for b in budgets} for kind in results}
    out["paired_auc_vs_no_retrain"] = {
        kind: {str(b): _spread([r["auc"] - n["auc"] for r, n in zip(results[kind][b], results["no_retrain"][b],
                                                                        strict=True)]) for b in budgets}
        for kind in ("fine_tune", "scratch")}
    out["paired_order_auc"] = _spread([u["auc"] - r["auc"] for u, r in zip(order["uncertainty"], order["random"],
                                                                            strict=True)])
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def plot(summary: dict, budgets, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for kind, colour in (("no_retrain", "#7f8c8d"), ("fine_tune", "#e67e22"), ("scratch", "#2980b9")):
        axes[0].plot(budgets, [summary[kind][str(b)] for b in budgets], "o-", color=colour, label=kind)
        axes[1].plot(budgets, [summary["macro_f1"][kind][str(b)] for b in budgets], "o-", color=colour, label=kind)
    for ax, name in zip(axes, ("AUC", "macro F1"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("verdicts")
        ax.set_ylabel(f"held-out {name} (shifted sky)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
