"""Issue 9 on a GPU machine, in one timed run: simulate the sky, train, evaluate; results under $OUT.

What it does, all inside a wall-clock budget (``SKY_BUDGET_S``, default 330 s):

1. simulates the default sky (12,032 stars, seed 0) twice, with Xue-cut and with physical labels
   (same arrays, other ``label`` column), plus a fresh 3,000-star physical-label check set
   (seed 99), each with ``--workers``; then measures each set's realism figures in the background;
2. trains, concurrently on the one GPU: the shipped ``lite`` BATMM on the physical-label set to
   convergence (up to 60 epochs per stage, early stopping on validation macro-F1, patience 8);
   the paper-size BATMM once on the Xue-label set; and the Table 8 runs (lite, patience 4) seed
   by seed, both labelings, plus the image-only model under the spec's min–max scaling. A run is
   only started when its model's measured duration still fits before the deadline;
3. runs ``bhb evaluate`` on the seeds every model finished (it reuses the runs and adds the
   classical cuts), scores the check set with the shipped model (fusion, spectrum head, image
   head, classical) and packs the small results (no data sets, no paper-size weights) into
   ``$OUT/sky_results.tar.gz``, beside ``run-info.json`` and ``driver.log`` (the device tool brings
   back at most 8 files, two folders deep).

``SKY_SMOKE=1`` runs the same steps with a few hundred stars and ``tiny`` models on the CPU, to
test this script end to end where there is no GPU: ``SKY_SMOKE=1 OUT=/tmp/o python scripts/gpu_sky.py``.
Then ``python scripts/sky_results.py $OUT`` writes docs/results/ and the model card from $OUT.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = os.environ.get("SKY_SMOKE") == "1"
OUT = Path(os.environ.get("OUT") or (REPO / "sky_out")).resolve()
WORK = Path(os.environ.get("SKY_WORK", "/tmp/sky_work")).resolve()
RES = WORK / "results"  # staged here, packed into OUT at the end
BUDGET = float(os.environ.get("SKY_BUDGET_S", 300 if SMOKE else 330))
CPUS = os.cpu_count() or 2
START = time.monotonic()

def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


# Every figure below may be overridden from the environment (SKY_N, SKY_SIZE, ...) so the same steps
# run on a CPU at a scale it can finish: see docs/results for the recipe each table was made with.
N = int(_env("SKY_N", "240" if SMOKE else "12032"))
N_CHECK = int(_env("SKY_N_CHECK", "120" if SMOKE else "3000"))
SIZE = _env("SKY_SIZE", "tiny" if SMOKE else "lite")
PAPER_SIZE = "tiny" if SMOKE else "paper"
RUN_PAPER = _env("SKY_PAPER", "1") == "1"
SEEDS = _ints(_env("SKY_SEEDS", "0" if SMOKE else "0,1,2,3,4"))
CUTOUT = 16 if SMOKE else 64
# the Table 8 labelings, in the order each seed runs them (both are always simulated)
LABELINGS = tuple(_env("SKY_LABELINGS", "xue,physical").split(","))
ALL_NETWORKS = ("image_resnet_se", "spectrum_vgg1d_sa", "early_add", "early_concat", "vgg1d_fusion", "batmm")
# SKY_MODELS (comma list) narrows the Table 8 networks; the smoke run keeps two so it reaches the evaluation
NETWORKS = tuple(
    m
    for m in os.environ.get("SKY_MODELS", "image_resnet_se,batmm" if SMOKE else ",".join(ALL_NETWORKS)).split(",")
    if m
)
BASELINES = () if SMOKE else ("svm", "xgboost")
# single-thread runs beside the shipped and paper runs
PARALLEL = int(_env("SKY_PARALLEL", str(2 if SMOKE else max(2, CPUS - 6))))
# (epochs per stage, patience, batch): early stopping on validation macro-F1 ends most stages well before the cap
TABLE_EPOCHS, TABLE_PATIENCE, TABLE_BATCH = _ints(_env("SKY_TABLE", "2,1,64" if SMOKE else "30,4,256"))
SHIPPED_EPOCHS, SHIPPED_PATIENCE, SHIPPED_BATCH = (2, 1, 64) if SMOKE else (40, 6, 128)
# SKY_SHIPPED: a BATMM run trained elsewhere (e.g. on a CPU beforehand) to check instead of training one here
SHIPPED_RUN = os.environ.get("SKY_SHIPPED")
PAPER_EPOCHS, PAPER_PATIENCE = (1, 1) if SMOKE else (12, 3)
SMOKE_STEPS = ["--max-steps-per-epoch", "3"] if SMOKE else []


def elapsed() -> float:
    return time.monotonic() - START


def log(msg: str) -> None:
    line = f"[{elapsed():6.1f} s] {msg}"
    print(line, flush=True)
    with open(RES / "driver.log", "a") as f:
        f.write(line + "\n")


def device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def child_env(**extra: str) -> dict[str, str]:
    """This tree first on the path (its code, not an older installed wheel), then whatever PYTHONPATH held
    (e.g. /tmp/site with packages carried as wheels)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def bhb(*args: str, log_name: str | None = None) -> subprocess.Popen:
    """Start ``bhb ARGS`` from this tree."""
    env = child_env()
    out = open(WORK / "logs" / f"{log_name}.log", "w") if log_name else subprocess.DEVNULL  # noqa: SIM115 (the child owns it)
    return subprocess.Popen(
        [sys.executable, "-m", "bhb_viewer", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
    )


def simulate_all() -> dict[str, Path]:
    sets = {"xue": (WORK / "sim-xue", N, 0, "xue"), "physical": (WORK / "sim-physical", N, 0, "physical"),
            "check": (WORK / "check-physical", N_CHECK, 99, "physical")}
    workers = max(1, (CPUS - 1) // 2)
    procs = {
        k: bhb(
            "simulate", "--n", str(n), "--seed", str(seed), "--labels", lab, "--out", str(path), "--force",
            "--cutout-size", str(CUTOUT), "--workers", str(workers if k != "check" else 1), "--quiet",
            log_name=f"simulate-{k}",
        )
        for k, (path, n, seed, lab) in sets.items()
    }
    for k, p in procs.items():
        rc = p.wait()
        log(f"simulate {k}: exit {rc}")
        if rc != 0:
            raise SystemExit(f"simulation {k} failed; see {WORK}/logs/simulate-{k}.log")
    return {k: v[0] for k, v in sets.items()}


REPORT_CODE = """
import json, sys
import numpy as np
from bhb_viewer.core.science.balmer import measure_arrays
from bhb_viewer.core.dataset import open_dataset
from bhb_viewer.core.errors import BadInputError
from bhb_viewer.core.sim.calibration import dataset_report
from bhb_viewer.core.sim.realism import fm_window_robustness, realism_figures
from bhb_viewer.core.sim.sky import read_truth
path, out = sys.argv[1], sys.argv[2]
try:
    report = dataset_report(path)
except BadInputError as exc:  # no Xue 2011 table on this machine: the instrument figures still come
    ds = open_dataset(path)
    truth = read_truth(path)
    measured = measure_arrays(ds.spectra, ds.ivar)
    select = (np.asarray(truth["label_physical"]) == 1) & measured["classical_bhb"]
    agree = np.asarray(truth["label_xue"]) == np.asarray(truth["label_physical"])
    report = {"note": str(exc), "realism": realism_figures(ds.catalog, ds.spectra, ds.ivar, ds.cutouts),
              "fm_window": fm_window_robustness(ds.spectra, ds.ivar, select),
              "label_agreement_physical": float(np.mean(agree))}
open(out, "w").write(json.dumps(report, indent=1, default=float))
"""


def start_reports(sets: dict[str, Path]) -> list[subprocess.Popen]:
    env = child_env()
    return [
        subprocess.Popen(
            [sys.executable, "-c", REPORT_CODE, str(sets[k]), str(RES / f"sim-report-{k}.json")], cwd=REPO, env=env,
            stdout=open(WORK / "logs" / f"report-{k}.log", "w"), stderr=subprocess.STDOUT,
        )
        for k in ("xue", "physical")
    ]


class Job:
    def __init__(self, name: str, model: str, args: list[str], run_dir: Path) -> None:
        self.name, self.model, self.args, self.run_dir = name, model, args, run_dir
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.duration: float | None = None
        self.rc: int | None = None


def table_jobs(sets: dict[str, Path], models: tuple[str, ...], dev: str) -> list[Job]:
    jobs = []
    common = ["--size", SIZE, "--epochs", str(TABLE_EPOCHS), "--patience", str(TABLE_PATIENCE), "--lr", "1e-3",
              "--batch-size", str(TABLE_BATCH), "--threads", "1", "--device", dev, *SMOKE_STEPS]
    for seed in SEEDS:
        for lab in LABELINGS:
            for model in (*models, "image_resnet_se@minmax"):
                name, scale = model.split("@") if "@" in model else (model, "ratio_asinh")
                eval_dir = WORK / (f"table8-{lab}" if scale == "ratio_asinh" else f"table8-{lab}-minmax")
                run_dir = eval_dir / "runs" / f"{name}-seed{seed}"
                config = WORK / f"scale-{'minmax_cube' if scale == 'minmax' else scale}.json"
                jobs.append(
                    Job(
                        f"{lab}/{model}/seed{seed}",
                        model,
                        [
                            "train", "--config", str(config), "--dataset", str(sets[lab]), "--model", name, "--seed",
                            str(seed), "--out", str(run_dir), *common,
                        ],
                        run_dir,
                    )
                )
    return jobs


def run_queue(jobs: list[Job], deadline: float, kill_at: float, background: list[Job]) -> None:
    """Run ``jobs`` PARALLEL at a time; start one only if its model's longest finished run fits before ``deadline``."""
    pending, running = list(jobs), []
    typical: dict[str, float] = {}
    while pending or running or any(j.rc is None for j in background):
        for j in [*running, *background]:
            if j.proc is not None and j.rc is None and j.proc.poll() is not None:
                j.rc, j.duration = j.proc.returncode, elapsed() - j.started
                typical[j.model] = max(typical.get(j.model, 0.0), j.duration)
                log(f"{j.name}: exit {j.rc} after {j.duration:.0f} s")
        running = [j for j in running if j.rc is None]
        now = elapsed()
        if now > kill_at:
            for j in [*running, *background]:
                if j.rc is None and j.proc is not None:
                    j.proc.kill()
                    j.proc.wait()
                    j.rc, j.duration = -9, now - j.started
                    log(f"{j.name}: stopped at the deadline")
            return
        while pending and len(running) < PARALLEL:
            j = pending[0]
            guess = typical.get(j.model, 0.0)
            if now + guess > deadline or (now > deadline):
                pending.pop(0)  # does not fit: skip it (later seeds of other models may still fit)
                continue
            pending.pop(0)
            j.proc, j.started = bhb(*j.args, log_name=j.name.replace("/", "_")), elapsed()
            running.append(j)
        if not pending and not running and all(j.rc is not None for j in background):
            return
        time.sleep(1.0)


def evaluate(sets: dict[str, Path], models: tuple[str, ...], jobs: list[Job]) -> dict:
    """``bhb evaluate`` (all four tables at once) on the seeds every model of a table finished: it reuses the runs."""
    done = {(j.name.split("/")[0], j.model, int(j.name.rsplit("seed", 1)[1])) for j in jobs if j.rc == 0}
    summary, procs = {}, {}
    for lab in LABELINGS:
        for suffix, names in (("", models), ("-minmax", ("image_resnet_se@minmax",))):
            seeds = [s for s in SEEDS if all((lab, m, s) in done for m in names)]
            key = f"{lab}{suffix}"
            summary[key] = seeds
            if not seeds:
                log(f"evaluate {key}: no seed finished every model")
                continue
            plain = [m.split("@")[0] for m in names]
            listed = ",".join((["classical"] if not suffix else []) + plain)
            procs[key] = bhb(
                "evaluate", "--dataset", str(sets[lab]), "--models", listed, "--seeds", ",".join(map(str, seeds)) + ",",
                "--size", SIZE, "--out", str(WORK / f"table8-{key}"), "--json", log_name=f"evaluate-{key}",
            )
    for key, p in procs.items():
        log(f"evaluate {key} seeds {summary[key]}: exit {p.wait()}")
    return summary


def check_shipped(sets: dict[str, Path], shipped: Path, dev: str) -> None:
    """The issue's 'done when': fusion vs spectrum head vs image head vs classical cuts on a fresh
    physical-label seed."""
    scores = WORK / "check-scores.ecsv"
    p = bhb(
        "score", str(sets["check"]), "--model", str(shipped), "--out", str(scores), "--device", dev, "--json",
        log_name="check-score",
    )
    if p.wait() != 0 or not scores.is_file():
        log("check: scoring failed")
        return
    import numpy as np
    from astropy.table import Table

    sys.path.insert(0, str(REPO))
    from bhb_viewer.core.science.metrics import auc, classification_report, roc_curve

    t = Table.read(scores, format="ascii.ecsv")
    y = np.asarray(t["label"], dtype=int)
    out = {"n": len(t), "n_bhb": int(y.sum())}
    for col in ("p_bhb", "p_bhb_spectrum", "p_bhb_image", "classical_bhb"):
        p_col = np.nan_to_num(np.asarray(t[col], dtype=float), nan=0.0)
        fpr, tpr, _ = roc_curve(y, p_col)
        rep = classification_report(y, (p_col >= 0.5).astype(int))
        out[col] = {"auc": auc(fpr, tpr), "macro_f1": rep["macro"]["f1"], "bhb_f1": rep["BHB"]["f1"]}
    out["score_from"] = {
        k: int(v) for k, v in zip(*np.unique(np.asarray(t["score_from"]), return_counts=True), strict=False)
    }
    (RES / "check-shipped.json").write_text(json.dumps(out, indent=1))
    log(f"check: {json.dumps(out)}")


def collect(jobs: list[Job], shipped: Path, paper: Path) -> None:
    """Small results staged in RES: tables, per-run metrics and histories, the shipped checkpoint,
    paper-size metrics."""
    for d in WORK.glob("table8-*"):
        dest = RES / d.name
        dest.mkdir(parents=True, exist_ok=True)
        for f in d.glob("table8.*"):
            shutil.copy2(f, dest)
        for f in (*d.glob("*.png"),):
            shutil.copy2(f, dest)
        for run in (d / "runs").glob("*"):
            for name in ("test_metrics.json", "history.json"):
                if (run / name).is_file():
                    (dest / "runs" / run.name).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(run / name, dest / "runs" / run.name / name)
    if (shipped / "config.json").is_file():
        shutil.copytree(shipped, RES / "shipped", dirs_exist_ok=True, ignore=shutil.ignore_patterns("resume.*"))
    if paper.is_dir():
        (RES / "paper").mkdir(exist_ok=True)
        for name in ("config.json", "test_metrics.json", "history.json"):
            if (paper / name).is_file():
                shutil.copy2(paper / name, RES / "paper" / name)
    for d in ("sim-xue", "sim-physical", "check-physical"):
        for name in ("manifest.json", "truth.ecsv"):
            if (WORK / d / name).is_file():
                (RES / d).mkdir(exist_ok=True)
                shutil.copy2(WORK / d / name, RES / d / name)
    shutil.copytree(WORK / "logs", RES / "logs", dirs_exist_ok=True)
    runs = [{"name": j.name, "rc": j.rc, "seconds": j.duration} for j in jobs]
    (RES / "runs.json").write_text(json.dumps(runs, indent=1))


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    if WORK.exists():
        shutil.rmtree(WORK)
    (WORK / "logs").mkdir(parents=True)
    RES.mkdir()
    dev = "cpu" if SMOKE else device()
    models = NETWORKS + tuple(b for b in BASELINES if has_module({"svm": "sklearn", "xgboost": "xgboost"}[b]))
    info = {
        "smoke": SMOKE,
        "device": dev,
        "cpus": CPUS,
        "budget_s": BUDGET,
        "n": N,
        "size": SIZE,
        "paper_size": PAPER_SIZE,
        "seeds_planned": list(SEEDS),
        "models": list(models),
        "parallel": PARALLEL,
        "table_epochs": TABLE_EPOCHS,
        "table_patience": TABLE_PATIENCE,
        "table_batch": TABLE_BATCH,
        "shipped_epochs": SHIPPED_EPOCHS,
        "paper_epochs": PAPER_EPOCHS,
        "run_paper": RUN_PAPER,
        "env": {k: v for k, v in os.environ.items() if k.startswith("SKY_") and k != "SKY_WORK"},
    }
    log(f"start: {json.dumps(info)}")
    for scale in ("ratio_asinh", "minmax_cube"):
        (WORK / f"scale-{scale}.json").write_text(json.dumps({"image_scale": scale}))
    sets = simulate_all()
    reports = start_reports(sets)
    shipped, paper = Path(SHIPPED_RUN) if SHIPPED_RUN else WORK / "shipped", WORK / "paper"
    background = []
    if not SHIPPED_RUN:
        background.append(
            Job(
                "shipped",
                "batmm",
                [
                    "train", "--dataset", str(sets["physical"]), "--model", "batmm", "--size", SIZE, "--out",
                    str(shipped), "--epochs", str(SHIPPED_EPOCHS), "--patience", str(SHIPPED_PATIENCE), "--lr", "1e-3",
                    "--batch-size", str(SHIPPED_BATCH), "--num-workers", "0" if SMOKE else "2", "--threads", "1",
                    "--device", dev, *SMOKE_STEPS,
                ],
                shipped,
            )
        )
    if RUN_PAPER:
        background.append(Job("paper", "batmm-paper", [
            "train", "--dataset", str(sets["xue"]), "--model", "batmm", "--size", PAPER_SIZE, "--out", str(paper),
            "--epochs", str(PAPER_EPOCHS), "--patience", str(PAPER_PATIENCE), "--lr", "3e-4", "--batch-size", "64",
            "--num-workers", "0" if SMOKE else "4", "--device", dev, *SMOKE_STEPS], paper))
    for j in background:
        j.proc, j.started = bhb(*j.args, log_name=j.name), elapsed()
    jobs = table_jobs(sets, models, dev)
    # evaluate + check + copy (the smoke run's CPU is slow to start processes)
    reserve = float(_env("SKY_RESERVE_S", "90" if SMOKE else "40"))
    run_queue(jobs, deadline=BUDGET - reserve - 10, kill_at=BUDGET - reserve, background=background)
    info["seeds_evaluated"] = evaluate(sets, models, jobs)
    rc = {j.name: j.rc for j in background}
    if rc.get("shipped", 0) == 0 and (shipped / "config.json").is_file():
        check_shipped(sets, shipped, dev)
    for p in reports:
        try:
            p.wait(timeout=max(1.0, BUDGET + 20 - elapsed()))
        except subprocess.TimeoutExpired:
            p.kill()
    info.update(
        shipped_rc=rc.get("shipped"), shipped_run=str(shipped), paper_rc=rc.get("paper"), elapsed_s=round(elapsed(), 1)
    )
    collect(jobs, shipped, paper)
    (RES / "run-info.json").write_text(json.dumps(info, indent=1))
    log(f"done: {json.dumps(info)}")
    pack()
    return 0


def pack() -> None:
    """RES as one archive in OUT, with run-info.json and driver.log beside it for a quick look."""
    import tarfile

    with tarfile.open(OUT / "sky_results.tar.gz", "w:gz") as tar:
        tar.add(RES, arcname="sky_results")
    for name in ("run-info.json", "driver.log"):
        shutil.copy2(RES / name, OUT / name)


if __name__ == "__main__":
    sys.exit(main())
