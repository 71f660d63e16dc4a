"""``bhb describe-sky``: record a checkpoint's training sky, so its scores carry out-of-distribution flags.

Writes ``training_sky.json`` (ranges of u−g, g−r, g, S/N and fitted Teff, log g, [Fe/H]) and, for a fusion model,
``embedding_stats.safetensors`` into the checkpoint folder (ml.embedding_stats). Run it on the data set the model was
trained on; a checkpoint without these files still scores, its flags then lack the ``sky:`` and
``ood:embedding`` checks.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="CKPT_DIR", help="checkpoint directory")
    parser.add_argument("--data", required=True, metavar="DIR", help="the data set the model was trained on")
    parser.add_argument("--n", type=int, help="use the first N stars only (default: all)")
    parser.add_argument("--seed", type=int,
                        help="the seed the model was trained with: its training split describes the sky and its "
                             "validation split (stars it never fitted) sets the embedding distance limit, as bhb "
                             "train does (default: every star, or the first N, for both)")
    parser.add_argument("--json", action="store_true", help="print the record as one JSON line")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import numpy as np

    from bhb_viewer.core.dataset import open_dataset
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.progress import TerminalProgress
    from bhb_viewer.ml.embedding_stats import describe_sky

    if args.n is not None and args.n < 10:
        raise BadInputError(None, f"--n must be ≥ 10, got {args.n}")
    data = open_dataset(args.data)
    rows, held_out = np.arange(min(len(data), args.n or len(data))), None
    if args.seed is not None:
        from bhb_viewer.ml.data import stratified_split

        train, held_out, _ = stratified_split(np.asarray(data.labels)[rows], args.seed)
        rows = rows[train]
    sky = describe_sky(args.model, data, rows, progress=TerminalProgress(), held_out=held_out)
    if args.json:
        print(json.dumps(asdict(sky)))
        return 0
    print(f"recorded the training sky of {args.model} from {sky.n_stars} stars")
    for key, (lo, hi) in sky.ranges.items():
        print(f"  {key:<9} {lo:10.3f} … {hi:10.3f}")
    print("  embedding statistics: " + ("written" if sky.embedding else "none (the model has no embedding)"))
    return 0
