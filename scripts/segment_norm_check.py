"""A fix tried for the saturated segment weights: the same spectrum-only model (VGG1D + segment attention)
trained twice with one recipe, without and with ``segment_norm`` (a LayerNorm on the segments before
W_Q, W_K), compared on a sky neither saw.

Usage::

    bhb train --config BASE.json    # spectrum_vgg1d_sa, lite
    bhb train --config NORM.json    # the same with "model_overrides": {"segment_norm": true}
    python scripts/segment_norm_check.py SKY --runs RUN_BASE RUN_NORM [--out docs/results]

Writes NAME.json (default ``segment-norm``) and puts the section "A fix tried: ..." into
``faithfulness.md`` (replacing it on a rerun). Per run: macro F1 on its own test split and on SKY,
the segment softmax's row entropy and the segment weights (column means) over SKY's stars, their
between-star spread and class difference, and the macro F1 with the attention rows made uniform
(how much the model rests on what its attention picks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
SECTION = "## A fix tried for the saturated segment weights"


def measure(run: Path, flux: np.ndarray, ivar: np.ndarray, labels: np.ndarray) -> dict:
    """The numbers of one run on the sky (module doc)."""
    from collapse_check import entropy_ratio, macro_f1, replaced_output

    from bhb_viewer.ml.inference import Predictor

    predictor = Predictor(run, device="cpu")
    attention = predictor.model.spectrum_encoder.attention
    rows: list[np.ndarray] = []
    handle = attention.register_forward_hook(lambda _m, _i, out: rows.append(out[1].detach().float().numpy()))
    try:
        p = np.concatenate([b.p_bhb for b in predictor.predict(flux, ivar, None)])
    finally:
        handle.remove()
    sw = np.concatenate(rows)
    weights = sw.mean(axis=1)

    def uniform(inputs, _output):
        n = attention.n_segments * attention.segment_length
        segments = inputs[0][:, :n].reshape(-1, attention.n_segments, attention.segment_length)
        s_w = torch.full((segments.shape[0], attention.n_segments, attention.n_segments), 1.0 / attention.n_segments)
        return (segments + s_w @ segments).reshape(-1, n), s_w

    with replaced_output(attention, uniform):
        p_uniform = np.concatenate([b.p_bhb for b in predictor.predict(flux, ivar, None)])
    test = json.loads((run / "test_metrics.json").read_text())
    r = lambda v: [round(float(x), 4) for x in v]  # noqa: E731
    return {
        "run": str(run), "segment_norm": bool(predictor.model.arch.segment_norm),
        "test_macro_f1": round(float(test["macro"]["f1"]), 4), "sky_macro_f1": round(macro_f1(p, labels), 4),
        "row_entropy_ratio_median": round(float(np.median(entropy_ratio(sw))), 4),
        "segment_weights_mean": r(weights.mean(0)), "segment_weights_between_star_std": r(weights.std(0)),
        "segment_weights_bhb_minus_non_bhb": r(weights[labels == 1].mean(0) - weights[labels == 0].mean(0)),
        "uniform_rows_macro_f1": round(macro_f1(p_uniform, labels), 4),
        "uniform_rows_mean_abs_dp": round(float(np.abs(p_uniform - p).mean()), 4),
    }


def markdown(result: dict) -> str:
    base, norm = result["runs"]

    def line(name: str, m: dict) -> str:
        return (
            f"| {name} | {m['test_macro_f1']:.3f} | {m['sky_macro_f1']:.3f} | "
            f"{m['row_entropy_ratio_median']:.3f} | {', '.join(f'{v:.2f}' for v in m['segment_weights_mean'])} "
            f"| {max(m['segment_weights_between_star_std']):.3f} | "
            f"{max(abs(v) for v in m['segment_weights_bhb_minus_non_bhb']):.3f} | "
            f"{m['uniform_rows_macro_f1']:.3f} ({m['uniform_rows_mean_abs_dp']:.3f}) |"
        )

    held = norm["sky_macro_f1"] >= base["sky_macro_f1"] - 0.01 and norm["test_macro_f1"] >= base["test_macro_f1"] - 0.01
    diff = norm["segment_weights_bhb_minus_non_bhb"]
    j = int(np.argmax(np.abs(diff)))
    verdict = (f"F1 {'holds' if held else 'does not hold'} (test {norm['test_macro_f1'] - base['test_macro_f1']:+.3f}, "
               f"sky {norm['sky_macro_f1'] - base['sky_macro_f1']:+.3f}; one seed each, so differences of about 0.01 "
               "are not resolved).")
    return "\n".join(
        [
            SECTION,
            "",
            f"Made by `python scripts/segment_norm_check.py {Path(result['data']).name} --runs …` "
            f"({result['n']} stars of {result['sky']}, which neither run saw). The spectrum-only model "
            f"(VGG1D + segment attention, lite) trained twice with one recipe ({result['recipe']}): as "
            "the paper has it, and with a LayerNorm on each segment before W_Q and W_K (`segment_norm`; "
            "the values stay raw). Short CPU runs: they compare the two, not the shipped model.",
            "",
            "| segment attention | test macro F1 | sky macro F1 | row entropy ÷ uniform | segment weights s1…s7 "
            "| between-star σ (largest) | class difference (largest) | macro F1 with uniform rows (mean abs ΔP) |",
            "|---|---|---|---|---|---|---|---|",
            line("as the paper (the shipped architecture)", base),
            line("with segment_norm", norm),
            "",
            f"Without the norm the short run collapses: one-hot rows on s1 for every star. With it, {verdict} The "
            f"rows are no longer one-hot (entropy {norm['row_entropy_ratio_median']:.2f} of uniform's), and the "
            f"weights vary between stars (σ up to {max(norm['segment_weights_between_star_std']):.2f}) and between "
            f"the classes (BHB minus non-BHB {diff[j]:+.2f} on s{j + 1}). Making the rows uniform costs that model "
            f"more (macro F1 {norm['uniform_rows_macro_f1']:.2f}), so what its attention picks is used. The option "
            "is kept, default off, so no checkpoint changes: a retraining of BATMM with `model_overrides = "
            "{segment_norm = true}` would carry it into the viewer; that retraining was not done here.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="a labelled data set directory neither run was trained on")
    ap.add_argument("--runs", nargs=2, type=Path, required=True, metavar=("RUN_BASE", "RUN_NORM"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--name", default="segment-norm")
    args = ap.parse_args(argv)
    from collapse_check import put_section

    from bhb_viewer.core.dataset import open_dataset

    data = open_dataset(args.data)
    flux, ivar, labels = np.asarray(data.spectra), np.asarray(data.ivar), np.asarray(data.labels)
    runs = [measure(run, flux, ivar, labels) for run in args.runs]
    training = json.loads((args.runs[0] / "config.json").read_text()).get("training")
    made = data.manifest.get("provenance", {})
    result = {"data": str(args.data), "n": len(labels),
              "sky": f"a sky simulated with seed {made['seed']}" if "seed" in made else "the data set",
              "recipe": "no training record" if not training else
                        f"{training['dataset']}, {training['epochs']} epochs, lr {training['lr']:g}, batch "
                        f"{training['batch_size']}, weight decay {training['weight_decay']:g}, seed {training['seed']}",
              "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    put_section(args.out / "faithfulness.md", markdown(result), SECTION)
    print(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
