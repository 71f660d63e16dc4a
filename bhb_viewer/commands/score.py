"""``bhb score``: P(BHB) for every star of a data set, or of a catalog whose stars a data set holds.

The output keeps the input's rows and adds ``p_bhb``, ``model``, ``model_version``, every other
per-star column the model's predictor gives, the classical Balmer diagnostics (d02, fm, b_hg,
c_hg), the ``classical_bhb`` flag and the Balmer fit's ``balmer_reason``; the physical second
opinion (core.science.stellar_fit: ``teff_fit``, ``logg_fit``, ``feh_fit``, ``rv_fit``, ``chi2_fit``), the
trust ``flags`` (core.science.trust; the summary counts the out-of-distribution ones), the known-star
match ``known_as`` / ``known_sep_arcsec`` (core.readers.known_stars; --known adds catalogues) and, with --weights,
the segment and band weights. A data set with labels also gets its macro P/R/F1 printed. A model that reads colours gets
each candidate's u,g,r,i,z from the input table (``u``… / ``u_err``… or SDSS ``psfMag_u``… / ``psfMagErr_u``…) and,
for bands the table lacks, from the data set's catalogue. Scoring streams (ml.scoring): memory does not grow
with the number of stars, and the output (.parquet, .ecsv, .csv, .fits) is written as it goes.
``torchrun --nproc-per-node N -m bhb_viewer score ...`` splits the stars over N ranks and writes
one output, the same as one process's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bhb_viewer.core.readers.candidates import CROSSMATCH_ARCSEC

    parser.add_argument(
        "input", metavar="CATALOG_OR_DATASET", help="a data set directory, or a catalog (.ecsv/.fits/.csv/.vot/.xml)"
    )
    parser.add_argument(
        "--model", required=True, metavar="CKPT_DIR", help="checkpoint directory (bhb train's run directory)"
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="output table; format from the extension")
    parser.add_argument(
        "--dataset",
        metavar="DIR",
        help="for a catalog: the data set holding its stars' spectra and cutouts "
        f"(matched by id, else by position within {CROSSMATCH_ARCSEC:g}″)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="stars per batch (and per output chunk); default 256"
    )
    parser.add_argument(
        "--device", default="auto",
        help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:1; under torchrun auto/cuda is the rank's own GPU",
    )
    parser.add_argument("--workers", type=int, default=1,
                        help="loader processes that read, preprocess and fit the Balmer lines while the model runs; "
                             "0 does all in this process; default 1")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default on a CPU: the cores the loader workers leave, at least 1)")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the model (pays off on a GPU for large runs)"
    )
    parser.add_argument(
        "--weights",
        action="store_true",
        help="add the 7 segment weights (seg_w1..seg_w7) and 5 band "
             "weights (w_u..w_z) where the model has them (slower)",
    )
    parser.add_argument(
        "--no-second-opinion", dest="second_opinion", action="store_false",
        help="leave out the engine-template fit (teff_fit, logg_fit, feh_fit, rv_fit, chi2_fit) and the flags",
    )
    parser.add_argument(
        "--known",
        action="append",
        default=[],
        metavar="CAT",
        help="another catalogue of known stars (ra, dec; optional known_as) matched besides "
        "the shipped Xue 2011, Barbosa 2022 and blue-straggler lists; repeatable",
    )
    parser.add_argument("--known-radius", type=float, default=2.0, metavar="ARCSEC",
                        help="match radius for known stars (default 2″)")
    parser.add_argument("--threshold", type=float, default=0.5, help="P(BHB) cut for the printed P/R/F1")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    parser.add_argument("--progress-json", action="store_true", help="JSON-lines progress on stdout")


def _resolve(args: argparse.Namespace):
    """(output table, data set, its rows) for a data set or a catalog matched into one."""
    from bhb_viewer.core.dataset import is_dataset, open_dataset
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.readers.candidates import CROSSMATCH_ARCSEC, crossmatch, read_candidates

    if is_dataset(args.input):
        data = open_dataset(args.input)
        return data.catalog.copy(), data, np.arange(len(data))
    catalog = read_candidates(args.input)
    if not args.dataset:
        raise BadInputError(
            args.input,
            "a catalog holds no spectra or cutouts: pass --dataset DIR with these stars, or build one first "
            "(bhb dataset --help: from local files or from SDSS)",
        )
    data = open_dataset(args.dataset)
    rows = np.full(len(catalog), -1, dtype=np.int64)
    if "id" in catalog.colnames and "id" in data.catalog.colnames:
        index = {str(v): i for i, v in enumerate(data.catalog["id"])}
        rows = np.array([index.get(str(v), -1) for v in catalog["id"]], dtype=np.int64)
    todo = rows < 0
    if todo.any() and {"ra", "dec"} <= set(catalog.colnames) and {"ra", "dec"} <= set(data.catalog.colnames):
        nearest, sep = crossmatch(catalog[todo], data.catalog)
        rows[todo] = np.where(sep <= CROSSMATCH_ARCSEC, nearest, -1)
    if (rows < 0).all():
        raise BadInputError(
            args.input, f"none of its {len(catalog)} stars is in the data set {args.dataset} (by id or position)"
        )
    return catalog, data, rows


def run(args: argparse.Namespace) -> int:
    import torch

    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.progress import JsonLinesProgress, TerminalProgress, no_progress
    from bhb_viewer.ml import distributed
    from bhb_viewer.ml.scoring import Scorer, score_stream

    _check(args)
    ranks = distributed.ranks_from_env()
    device = distributed.rank_device(args.device, ranks)
    if args.threads:
        torch.set_num_threads(args.threads)
    elif device.type == "cpu" and args.workers and not ranks.distributed:
        # the loader workers take cores of their own: the model's threads keep to the rest (2 cores,
        # 1 worker: 741 stars/s with the second opinion against 541 with torch's default 2 threads)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - args.workers))
    table, data, rows = _resolve(args)
    _add_known(table, data, rows, args)
    labels = np.where(rows >= 0, data.labels[np.maximum(rows, 0)], -1)
    progress = (JsonLinesProgress() if args.progress_json else TerminalProgress()) if ranks.main else no_progress
    scorer = Scorer(args.model, device, explain="weights" if args.weights else False, compile_model=args.compile)
    distributed.start(device)
    try:
        result = score_stream(
            table, rows, labels, data, scorer, args.out, batch_size=args.batch_size, workers=args.workers,
            threshold=args.threshold, ranks=ranks, progress=progress, mags=_magnitudes(table, data, rows),
            second_opinion=args.second_opinion,
        )
    except ValueError as exc:  # the preprocessing rejects arrays this model can't take (e.g. another cutout size)
        raise BadInputError(data.path, str(exc)) from exc
    finally:
        distributed.stop()
    if ranks.main:
        _summarise(args, result, label_definition(data))
    return 0


def _add_known(table, data, rows: np.ndarray, args: argparse.Namespace) -> None:
    """``known_as`` and ``known_sep_arcsec``: the known-star catalogues each candidate is in (core.readers.known_stars),
    by the input's positions or, where it has none, the data set's."""
    from bhb_viewer.core.readers.known_stars import KnownStars, shipped_known_stars

    if {"ra", "dec"} <= set(table.colnames):
        ra, dec = np.asarray(table["ra"], float), np.asarray(table["dec"], float)
    elif {"ra", "dec"} <= set(data.catalog.colnames):
        found = rows >= 0
        ra, dec = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
        ra[found] = np.asarray(data.catalog["ra"], float)[rows[found]]
        dec[found] = np.asarray(data.catalog["dec"], float)[rows[found]]
    else:
        return
    known = KnownStars.load(tuple(args.known)) if args.known else shipped_known_stars()
    table["known_as"], table["known_sep_arcsec"] = known.match(ra, dec, args.known_radius)


def _magnitudes(table, data, rows: np.ndarray) -> np.ndarray:
    """Each output row's magnitudes (N, 15): the input table's, bands it lacks from the data set's catalogue."""
    from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes, fill_missing_bands

    mags = catalog_magnitudes(table)
    found = rows >= 0
    mags[found] = fill_missing_bands(mags[found], catalog_magnitudes(data.catalog)[rows[found]])
    return mags


def _check(args: argparse.Namespace) -> None:
    from bhb_viewer.core.errors import BadInputError

    for flag in ("batch_size", "workers", "threads"):
        value = getattr(args, flag)
        if value is not None and value < (1 if flag != "workers" else 0):
            raise BadInputError(
                None, f"--{flag.replace('_', '-')} must be {'≥ 0' if flag == 'workers' else '≥ 1'}, got {value}"
            )


def label_definition(data) -> str:
    """What the data set's labels mean: a simulated set says (physical / xue), any other is its label column."""
    labels = (data.manifest.get("provenance") or {}).get("labels")
    return str(labels) if labels else "the data set's label column"


def _summarise(args: argparse.Namespace, result, labels: str) -> None:
    summary: dict = {"event": "scored", "out": str(result.out), "n": result.n, "scored": result.scored,
                     "not_found": result.n - result.scored, "model": result.name, "model_version": result.version,
                     "world_size": result.world_size, "flagged_ood": result.flagged_ood,
                     "training_sky": result.training_sky}
    reports = result.reports()
    if reports:
        summary["threshold"] = args.threshold
        summary["labels"] = labels
        summary["macro"] = {k: reports["model"]["macro"][k] for k in ("precision", "recall", "f1")}
        summary["classical_macro"] = {k: v for k, v in reports["classical"]["macro"].items() if k != "support"}
        if "box" in reports:  # the second opinion's Teff–log g box (core.science.stellar_fit.in_bhb_box)
            summary["box_macro"] = {k: v for k, v in reports["box"]["macro"].items() if k != "support"}
    if summary["not_found"]:
        print(
            f"warning: {summary['not_found']} of {result.n} stars are not in the data set; their p_bhb is masked",
            file=sys.stderr,
        )
    if not result.training_sky and args.second_opinion:
        print("note: this checkpoint has no training-sky record, so its flags lack the sky: and ood:embedding "
              "checks (bhb describe-sky adds it)", file=sys.stderr)
    if result.flagged_ood:
        print(f"warning: {result.flagged_ood} of {result.scored} scores are flagged out of distribution "
              "(ood:/sky: in the flags column)", file=sys.stderr)
    if args.json or args.progress_json:
        print(json.dumps(summary), flush=True)
        return
    print(f"wrote {result.out}: {result.scored} stars scored with {result.version}")
    if "macro" in summary:
        m, c = summary["macro"], summary["classical_macro"]
        print(f"macro P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f} at p_bhb >= {args.threshold:g} "
              f"(classical cuts: P {c['precision']:.4f} R {c['recall']:.4f} F1 {c['f1']:.4f}), against {labels} labels")
        if "box_macro" in summary:
            b = summary["box_macro"]
            print(
                f"the Teff–log g box of the template fit: P {b['precision']:.4f} R {b['recall']:.4f} F1 {b['f1']:.4f}"
            )
