"""Issue 22's done-when on the demo: 76 verdicts, does fine-tuning the shipped model keep its AUC?

The issue's case: a person reviews the demo (``bhb-viewer --demo``: resources/demo, 256 simulated
stars) and records 76 verdicts, 28 BHB, 45 non-BHB (blue stragglers, A dwarfs and the rest, by the
demo's true kinds) and 3 of other kinds (unsure, bad data), drawn at random from the demo with
``--seed``. The verdicts go into a real session file and ``build_from_session`` makes the 73-star
data set the wizard would train on (the other kinds are left out, as there).

Both models are judged by repeated stratified k-fold cross-validation on those 73 stars: in each
fold the shipped model is fine-tuned as the wizard does it by default (encoders frozen, lr 1e-4,
20 epochs with patience 8, its own 70/20/10 split of the fold's training stars for early stopping)
and scores the held-out fold; the shipped model scores every star as it is. Each star's
fine-tuned score is the mean over repeats of the score it got while held out. ``core.science.small_compare``
then gives both models' AUC and macro F1 with paired, stratified bootstrap intervals on the same
73 stars, and whether the fine-tuned model is better by the wizard's standard (what would pre-tick
"make active"). With ``--base DIR`` (the shipped model's training sky) the fine-tunes also mix in
as many of its stars as their own training stars, and both variants are reported.

    python benchmarks/bench_76_verdicts.py [--model DIR] [--base DIR] [--folds 5] [--repeats 2] [--threads 1]

The last line printed is one JSON object: the model used (folder, creation time, weights sha256), the
verdict counts, and per variant the two models' figures with intervals, ``better`` and
``not_below`` (the fine-tuned AUC interval reaches the active model's: the done-when).
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

from bhb_viewer.core.dataset import Dataset, open_dataset, write_dataset  # noqa: E402
from bhb_viewer.core.errors import read_json  # noqa: E402
from bhb_viewer.core.ingest.from_session import build_from_session  # noqa: E402
from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes  # noqa: E402
from bhb_viewer.core.science.small_compare import Comparison, compare  # noqa: E402
from bhb_viewer.core.sessions.verdicts import CatalogRef, Session, VerdictKind  # noqa: E402
from bhb_viewer.ml.training import TrainConfig, fit  # noqa: E402

DEMO = ROOT / "resources" / "demo"
SHIPPED = ROOT / "models" / "batmm-lite-sim"
N_BHB, N_NON_BHB, OTHER_KINDS = 28, 45, (VerdictKind.UNSURE, VerdictKind.BAD_DATA, VerdictKind.UNSURE)
KINDS = {"blue straggler": VerdictKind.BLUE_STRAGGLER, "A dwarf": VerdictKind.MS_A}  # the rest: non-BHB


def record_verdicts(session_path: Path, seed: int) -> None:
    """The 76 verdicts of issue 22 on demo stars drawn with ``seed``, each star's true kind."""
    truth = open_dataset(DEMO)
    kinds = {str(r["id"]): str(r["kind"]) for r in _truth_table()}
    rng = np.random.default_rng(seed)
    ids = np.asarray(truth.catalog["id"]).astype(str)
    bhb = rng.choice(ids[truth.labels == 1], N_BHB + len(OTHER_KINDS), replace=False)
    non = rng.choice(ids[truth.labels == 0], N_NON_BHB, replace=False)
    with Session.create(session_path, CatalogRef.from_file(DEMO / "catalog.ecsv", len(truth)), "bench") as session:
        for cid in bhb[:N_BHB]:
            session.set_verdict(cid, VerdictKind.BHB)
        for cid in non:
            session.set_verdict(cid, KINDS.get(kinds[cid], VerdictKind.NON_BHB))
        for cid, kind in zip(bhb[N_BHB:], OTHER_KINDS, strict=True):
            session.set_verdict(cid, kind)


def _truth_table():
    from astropy.table import Table

    return Table.read(DEMO / "truth.ecsv", format="ascii.ecsv")


def score(model_dir: Path, ds: Dataset, rows: np.ndarray) -> np.ndarray:
    """P(BHB) of ``rows`` by a checkpoint, with the catalogue magnitudes a photometry model reads."""
    from bhb_viewer.ml.inference import Predictor

    predictor = Predictor(model_dir, device="cpu")
    mags = catalog_magnitudes(ds.catalog)[rows]
    parts = predictor.predict(np.asarray(ds.spectra[rows]), np.asarray(ds.ivar[rows]), np.asarray(ds.cutouts[rows]),
                              mags=mags)
    return np.concatenate([p.p_bhb for p in parts])


def subset(ds: Dataset, rows: np.ndarray, path: Path) -> Path:
    return write_dataset(path, ds.catalog[rows], np.asarray(ds.spectra)[rows], np.asarray(ds.ivar)[rows],
                         np.asarray(ds.cutouts)[rows])


def folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` stratified folds of row indices (each class dealt round-robin after a seeded shuffle)."""
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(k)]
    for cls in (0, 1):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        for i, row in enumerate(rows):
            out[i % k].append(int(row))
    return [np.sort(np.asarray(f)) for f in out]


def fine_tune(data: Path, out: Path, model: Path, base: Path | None, threads: int) -> Path:
    """The wizard's default fine-tune of ``model``.

    As core.training.train_config sets it: FINETUNE_LR, FEW_STARS_* epochs and patience.
    """
    from bhb_viewer.core.training.train_config import FEW_STARS_EPOCHS, FEW_STARS_PATIENCE, FINETUNE_LR

    spec = read_json(model / "config.json")["model"]
    return fit(TrainConfig(dataset=str(data), out=str(out), model=spec["name"], size=spec["size"], init_from=str(model),
                           lr=FINETUNE_LR, epochs=FEW_STARS_EPOCHS, patience=FEW_STARS_PATIENCE, threads=threads,
                           device="cpu", base=str(base) if base else None))


def figures(c: Comparison) -> dict:
    pair = {who: {"auc": [f.value, f.low, f.high], "f1": [g.value, g.low, g.high]}
            for who, f, g in (("active", c.active_auc, c.active_f1), ("fine_tuned", c.new_auc, c.new_f1))}
    return {**pair, "n": c.n, "better": c.better, "not_below": c.new_auc.high >= c.active_auc.low, "reason": c.reason}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=SHIPPED, help="the active model (default: the shipped one)")
    parser.add_argument(
        "--base", type=Path, help="the model's training sky, to report a fine-tune that mixes it in too"
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        record_verdicts(tmp / "demo.session.sqlite", args.seed)
        report = build_from_session(tmp / "demo.session.sqlite", tmp / "verdicts")
        ds = open_dataset(report.path)
        labels, everyone = ds.labels, np.arange(len(ds))
        print(
            f"{report.n_bhb} BHB and {report.n_non_bhb} non-BHB verdicts ({report.n_excluded} of other kinds left out)",
            flush=True,
        )
        p_active = score(args.model, ds, everyone)
        variants = {"fine_tune": None, **({"fine_tune_base": args.base} if args.base else {})}
        result = {}
        for name, base in variants.items():
            held_out = np.zeros((args.repeats, len(ds)))
            for r in range(args.repeats):
                for f, test in enumerate(folds(labels, args.folds, args.seed + r)):
                    train = np.setdiff1d(everyone, test)
                    run = fine_tune(subset(ds, train, tmp / f"{name}-{r}-{f}-data"), tmp / f"{name}-{r}-{f}",
                                    args.model, base, args.threads)
                    held_out[r, test] = score(run, ds, test)
                    print(f"{name} repeat {r} fold {f}: done at {time.monotonic() - started:.0f} s", flush=True)
            result[name] = figures(compare(labels, held_out.mean(axis=0), p_active))
            result[name]["per_repeat_auc"] = [compare(labels, p, p_active, n_boot=1).new_auc.value for p in held_out]
            print(f"{name}: {result[name]['reason']}", flush=True)
    config = read_json(args.model / "config.json")
    summary = {
        "model": {
            "folder": args.model.name,
            "created": config.get("created"),
            "weights_sha256": config["weights"]["sha256"],
            "trained_on": config["dataset"]["name"],
        },
        "verdicts": {"bhb": report.n_bhb, "non_bhb": report.n_non_bhb, "other": report.n_excluded},
        "folds": args.folds,
        "repeats": args.repeats,
        "seed": args.seed,
        "seconds": round(time.monotonic() - started),
        **result,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
