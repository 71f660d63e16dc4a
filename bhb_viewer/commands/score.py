"""``bhb score``: P(BHB) for every star of a data set, or of a catalog whose stars a data set holds.

The output keeps the input's rows and adds ``p_bhb``, ``model``, ``model_version``, the classical
Balmer diagnostics (d02, fm, b_hg, c_hg), the ``classical_bhb`` flag and, where the model has them,
the segment and band weights. A data set with labels also gets its macro P/R/F1 printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bhb_viewer.core.candidates import CROSSMATCH_ARCSEC

    parser.add_argument("input", metavar="CATALOG_OR_DATASET", help="a data set directory, or a catalog (.ecsv/.fits/.csv/.vot/.xml)")
    parser.add_argument("--model", required=True, metavar="CKPT_DIR", help="checkpoint directory (bhb train's run directory)")
    parser.add_argument("--out", required=True, metavar="FILE", help="output table; format from the extension")
    parser.add_argument("--dataset", metavar="DIR", help="for a catalog: the data set holding its stars' spectra and cutouts "
                        f"(matched by id, else by position within {CROSSMATCH_ARCSEC:g}″)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--weights", action="store_true",
                        help="add the 7 segment weights (seg_w1..seg_w7) and 5 band weights (w_u..w_z) where the model has them (slower)")
    parser.add_argument("--threshold", type=float, default=0.5, help="P(BHB) cut for the printed P/R/F1")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    parser.add_argument("--progress-json", action="store_true", help="JSON-lines progress on stdout")


def _resolve(args: argparse.Namespace):
    """(output table, data set, its rows) for a data set or a catalog matched into one."""
    from bhb_viewer.core.candidates import CROSSMATCH_ARCSEC, crossmatch, read_candidates
    from bhb_viewer.core.dataset import is_dataset, open_dataset
    from bhb_viewer.core.errors import BadInputError

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
        raise BadInputError(args.input, f"none of its {len(catalog)} stars is in the data set {args.dataset} (by id or position)")
    return catalog, data, rows


def _score(args, data, rows, progress) -> tuple[np.ndarray, dict[str, np.ndarray], str, str]:
    """(P(BHB), weight columns, model name, model version) for the given data-set rows."""
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.progress import ProgressEvent
    from bhb_viewer.ml.checkpoint import read_config

    config = json.loads((Path(args.model) / "config.json").read_text()) if (Path(args.model) / "config.json").is_file() else {}
    spectra, ivar, cutouts = (np.asarray(a[rows]) for a in (data.spectra, data.ivar, data.cutouts))
    if config.get("kind") == "baseline":
        from bhb_viewer.ml.baselines import SpectralBaseline
        from bhb_viewer.ml.preprocess import Preprocessor

        model = SpectralBaseline.load(args.model)
        progress(ProgressEvent("score", 0, len(rows), config["model"]))
        p = model.predict_proba(Preprocessor.from_config(config["preprocess"]).spectra(spectra, ivar))
        progress(ProgressEvent("score", len(rows), len(rows), config["model"]))
        return p, {}, config["model"], f"{config['model']}-{config.get('size', '')}@{config.get('dataset_hash', '')[:10]}"
    read_config(args.model)  # a clear error for a broken or foreign checkpoint before anything heavy
    from bhb_viewer.ml.inference import Predictor

    predictor = Predictor(args.model, device=args.device)
    p = np.full(len(rows), np.nan)
    parts: dict[str, list[np.ndarray]] = {"segment_weights": [], "band_weights": []}
    # every modality's score and which one p_bhb is (ml.inference.SCORE_FIELDS)
    modal = {"p_bhb_spectrum": np.full(len(rows), np.nan), "p_bhb_image": np.full(len(rows), np.nan),
             "score_from": np.full(len(rows), "none", dtype="<U8")}
    try:
        for batch in predictor.predict(spectra, ivar, cutouts, batch_size=args.batch_size, explain=args.weights, progress=progress):
            p[batch.start : batch.stop] = batch.p_bhb
            for key, values in modal.items():
                values[batch.start : batch.stop] = getattr(batch, key)
            for key, chunks in parts.items():
                if getattr(batch, key) is not None:
                    chunks.append(getattr(batch, key))
    except ValueError as exc:  # the preprocessing rejects arrays this model can't take (e.g. another cutout size)
        raise BadInputError(data.path, str(exc)) from exc
    weights: dict[str, np.ndarray] = {**modal}
    for key, names in (("segment_weights", [f"seg_w{i + 1}" for i in range(7)]), ("band_weights", [f"w_{b}" for b in "ugriz"])):
        if parts[key]:
            values = np.concatenate(parts[key])
            weights.update({n: values[:, j].astype(np.float64) for j, n in enumerate(names)})
    return p, weights, predictor.model_name, predictor.model_version


def run(args: argparse.Namespace) -> int:
    from astropy.table import MaskedColumn

    from bhb_viewer.core.balmer import measure_arrays
    from bhb_viewer.core.export import write_table
    from bhb_viewer.core.metrics import classification_report
    from bhb_viewer.core.progress import JsonLinesProgress, TerminalProgress

    progress = JsonLinesProgress() if args.progress_json else TerminalProgress()
    table, data, rows = _resolve(args)
    found = rows >= 0
    p, weights, name, version = _score(args, data, rows[found], progress)
    classical = measure_arrays(np.asarray(data.spectra[rows[found]]), np.asarray(data.ivar[rows[found]]), progress)

    def column(values: np.ndarray, fill) -> MaskedColumn:
        full = np.full(len(table), fill, dtype=np.asarray(values).dtype)
        full[found] = values
        return MaskedColumn(full, mask=~found)

    table["p_bhb"] = column(p.astype(np.float64), np.nan)
    table["model"] = name
    table["model_version"] = version
    for key in ("d02", "fm", "b_hg", "c_hg"):
        table[key] = column(np.asarray(classical[key], dtype=np.float64), np.nan)
    table["classical_bhb"] = column(np.asarray(classical["classical_bhb"], dtype=bool), False)
    for key, values in weights.items():
        table[key] = column(values, "" if values.dtype.kind == "U" else np.nan)
    out = write_table(table, args.out)

    summary: dict = {"event": "scored", "out": str(out), "n": len(table), "scored": int(found.sum()),
                     "not_found": int((~found).sum()), "model": name, "model_version": version}
    labels = np.asarray(data.labels[rows[found]])
    known = labels >= 0
    if known.any():
        report = classification_report(labels[known], (p[known] >= args.threshold).astype(np.int64))
        summary["threshold"] = args.threshold
        summary["macro"] = {k: report["macro"][k] for k in ("precision", "recall", "f1")}
        summary["classical_macro"] = {
            k: v for k, v in classification_report(labels[known], classical["classical_bhb"][known].astype(np.int64))["macro"].items()
            if k != "support"
        }
    if summary["not_found"]:
        print(f"warning: {summary['not_found']} of {len(table)} stars are not in the data set; their p_bhb is masked", file=sys.stderr)
    if args.json or args.progress_json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"wrote {out}: {summary['scored']} stars scored with {version}")
        if "macro" in summary:
            m, c = summary["macro"], summary["classical_macro"]
            print(f"macro P {m['precision']:.4f} R {m['recall']:.4f} F1 {m['f1']:.4f} at p_bhb >= {args.threshold:g} "
                  f"(classical cuts: P {c['precision']:.4f} R {c['recall']:.4f} F1 {c['f1']:.4f})")
    return 0
