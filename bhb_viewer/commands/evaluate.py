"""``bhb evaluate``: train and test models over seeds on one data set and print the Table 8 layout;
writes table8.json / table8.csv and roc.png / pr.png into ``--out``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, metavar="DIR")
    parser.add_argument(
        "--models",
        default="table8",
        help="comma-separated registry names, svm, xgboost, classical (the Balmer cuts); "
        "'table8' = the paper's Table 8 models plus classical (default)",
    )
    parser.add_argument(
        "--seeds", default="5", help="a count (5 = seeds 0-4) or a comma list (0,3,7; one seed as '3,')"
    )
    parser.add_argument("--size", default="lite")
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument(
        "--config", metavar="FILE", help="training options (.json/.toml TrainConfig fields) for every network"
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--patience", type=int)
    parser.add_argument("--max-steps-per-epoch", type=int)
    parser.add_argument("--device")
    parser.add_argument("--threads", type=int, help="torch CPU threads per run (1 is fastest on a busy shared CPU)")
    parser.add_argument("--group", choices=("macro", "BHB"), default="macro",
                        help="rows' P/R/F1: macro over both classes (the paper's ALL) or the BHB class")
    parser.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    parser.add_argument("--progress-json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.progress import JsonLinesProgress, TerminalProgress
    from bhb_viewer.ml.evaluation import CLASSICAL, TABLE8_MODELS, evaluate_models, format_table8

    models = (
        [CLASSICAL, *TABLE8_MODELS]
        if args.models == "table8"
        else [m.strip() for m in args.models.split(",") if m.strip()]
    )
    seeds = int(args.seeds) if "," not in args.seeds else [int(s) for s in args.seeds.split(",") if s.strip()]
    options: dict = {}
    if args.config:
        import tomllib

        try:
            text = Path(args.config).read_text()
            options = tomllib.loads(text) if args.config.endswith(".toml") else json.loads(text)
        except (OSError, ValueError) as exc:
            raise BadInputError(args.config, f"cannot read training options ({exc})") from exc
    for flag in ("epochs", "batch_size", "lr", "patience", "max_steps_per_epoch", "device", "threads"):
        if getattr(args, flag) is not None:
            options[flag] = getattr(args, flag)
    progress = JsonLinesProgress() if args.progress_json else TerminalProgress()
    try:
        results = evaluate_models(models, args.dataset, seeds, args.size, args.out, options, progress)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table8(results, args.group))
    print(
        f"wrote {args.out}/table8.csv, table8.json"
        + (", roc.png, pr.png" if results["plots"] else " (no plots: matplotlib missing)")
    )
    if args.json:
        summary = {name: entry["summary"] for name, entry in results["models"].items()}
        print(json.dumps({"event": "evaluation", "size": args.size, "seeds": results["seeds"], "models": summary}))
    return 0
