"""``bhb explain``: measured importance and a faithfulness test for N stars, as one JSON object.

For each star: ``band_importance`` (u…z: the change in P(BHB) when that band is replaced by its
background), ``segment_importance`` (the 7 segments: the change when the stretch is replaced by
the continuum) and ``attention_concentration`` (the model's own attention on the central 8×8
pixels over the uniform share; 1 = flat; null for a model without a cutout map). Over all of them:
``deletion_area`` for the gradient saliency, window occlusion and a random order (spectral pixels
removed, most important first) and for the attention map (cutout pixels), each the mean area
under P(predicted class) against the fraction removed: lower is more faithful
(ml.importance). Labelled data also get ``band_importance_by_class``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data", metavar="DATA", help="a data set directory, or a catalog with spectrum (and image) file columns"
    )
    parser.add_argument("--model", required=True, metavar="CKPT_DIR", help="checkpoint directory")
    parser.add_argument("--n", type=int, default=200, help="stars explained, drawn at random (default 200)")
    parser.add_argument("--out", required=True, metavar="FILE.json", help="where the JSON object goes")
    parser.add_argument("--seed", type=int, default=0, help="random draw of the stars and of the background noise")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")


def run(args: argparse.Namespace) -> int:
    from bhb_viewer.core.dataset import is_dataset, open_dataset
    from bhb_viewer.core.errors import BadInputError

    if args.n < 1:
        raise BadInputError(None, f"--n must be ≥ 1, got {args.n}")
    with tempfile.TemporaryDirectory(prefix="bhb-explain-") as tmp:
        if is_dataset(args.data):
            data = open_dataset(args.data)
        else:
            from bhb_viewer.core.ingest.build import build_from_files

            folder = Path(args.data).resolve().parent
            build_from_files(Path(tmp) / "ds", args.data, spectra=folder, images=folder, partial=True)
            data = open_dataset(Path(tmp) / "ds")
        result = explain_dataset(data, args.model, args.n, args.seed, args.device)
    result["data"] = str(args.data)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    d = result["deletion_area"]
    print(f"wrote {args.out}: {len(result['stars'])} stars; deletion area saliency {d['saliency']:.3f}, occlusion "
          f"{d['occlusion']:.3f}, attention {_fmt(d['attention'])}, random {d['random']:.3f}", file=sys.stderr)
    print(json.dumps({k: result[k] for k in ("model", "n", "deletion_area")}))
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def explain_dataset(data, model_dir: str, n: int, seed: int, device: str = "cpu") -> dict:
    """The ``bhb explain`` object for ``n`` random stars of a data set (see the module doc)."""
    from bhb_viewer.core.grid import BANDS
    from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes
    from bhb_viewer.ml import importance as imp
    from bhb_viewer.ml.inference import Predictor

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(data), size=min(n, len(data)), replace=False))
    flux = np.asarray(data.spectra[rows], dtype=np.float32)
    ivar = np.asarray(data.ivar[rows], dtype=np.float32)
    cutouts = np.asarray(data.cutouts[rows], dtype=np.float32)
    mags = catalog_magnitudes(data.catalog)[rows]
    predictor = Predictor(model_dir, device=device)

    score = predictor.score_fn(mags)
    explained = list(predictor.predict(flux, ivar, cutouts, explain=True, mags=mags))
    p = np.concatenate([b.p_bhb for b in explained]).astype(np.float64)
    towards = (p >= 0.5).astype(np.int64)
    saliency = np.concatenate([b.saliency for b in explained]) if explained[0].saliency is not None else None
    attention = (np.concatenate([b.attention_map for b in explained])
                 if explained[0].attention_map is not None and predictor.map_from_attention else None)
    bands = imp.band_importance(score, flux, ivar, cutouts, rng)
    segments = imp.segment_importance(score, flux, ivar, cutouts)
    centres, windows = imp.window_importance(score, flux, ivar, cutouts)
    occlusion = imp.pixel_ranking_from_windows(centres, windows)
    signed = np.where(towards[:, None] == 1, occlusion, -occlusion)  # what holds up the star's own call
    curves = {"occlusion": imp.deletion_curve(score, flux, ivar, cutouts, signed, towards),
              "random": imp.deletion_curve(score, flux, ivar, cutouts, rng.random(flux.shape), towards)}
    if saliency is not None:
        curves["saliency"] = imp.deletion_curve(score, flux, ivar, cutouts, saliency, towards)
    concentration = None
    if attention is not None:
        concentration = imp.concentration(attention)
        curves["attention"] = imp.image_deletion_curve(score, flux, ivar, cutouts, attention, towards, rng)
        curves["attention_random"] = imp.image_deletion_curve(score, flux, ivar, cutouts, rng.random(attention.shape),
                                                              towards, rng)
    ids = [str(v) for v in data.catalog["id"][rows]] if "id" in data.catalog.colnames else [str(r) for r in rows]
    stars = [{"id": ids[i], "p_bhb": round(float(p[i]), 4), "band_importance": [round(float(v), 5) for v in bands[i]],
              "segment_importance": [round(float(v), 5) for v in segments[i]],
              "attention_concentration": None if concentration is None else round(float(concentration[i]), 4)}
             for i in range(len(rows))]
    areas = {key: round(imp.deletion_area(c), 4) for key, c in curves.items()}
    result: dict = {"model": str(model_dir), "n": len(rows), "seed": seed, "stars": stars,
                    "deletion_area": {key: areas.get(key) for key in ("saliency", "occlusion", "attention", "random")},
                    "attention_random_area": areas.get("attention_random"),
                    "deletion_curves": {key: [round(float(v), 4) for v in c.mean(axis=0)] for key, c in curves.items()},
                    "deletion_fractions": [float(v) for v in imp.STEPS], "bands": list(BANDS)}
    labels = np.asarray(data.labels[rows])
    if (labels >= 0).all() and len(set(labels.tolist())) == 2:
        from scipy.stats import mannwhitneyu

        result["band_importance_by_class"] = {
            b: {
                "bhb_mean": round(float(bands[labels == 1, j].mean()), 5),
                "non_bhb_mean": round(float(bands[labels == 0, j].mean()), 5),
                "mannwhitney_p": float(mannwhitneyu(bands[labels == 1, j], bands[labels == 0, j]).pvalue),
            }
            for j, b in enumerate(BANDS)
        }
        result["segment_importance_by_class"] = {
            f"s{j + 1}": {
                "bhb_mean": round(float(segments[labels == 1, j].mean()), 5),
                "non_bhb_mean": round(float(segments[labels == 0, j].mean()), 5),
            }
            for j in range(segments.shape[1])
        }
    return result
