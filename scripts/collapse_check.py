"""Why the model's own weights say nothing: the SE band weights, the segment weights and the CLS attention
of a checkpoint, measured on a labelled data set, next to the same model freshly initialised, with ablations.

Usage::

    python scripts/collapse_check.py SKY --model models/batmm-lite-sim [--n 2000] [--seed 0] [--out docs/results]

Writes NAME.json and NAME.png (default name ``collapse``) and puts the section "Why the model's own
weights are flat or saturated" into ``faithfulness.md`` in the same folder (replacing that section
if it is there, so ``scripts/explain_report.py`` and this script can be rerun in either order).

What is measured, per star, from the preprocessed inputs the model sees:

* SE block (paper Eq. 1–2): its input (each band's mean over the 64×64 stamp), the sigmoid gates
  before the viewer's normalisation, and how far those gates are from saturating (0 or 1);
* segment self-attention (Eq. 3–4): the logits q_i·k_j/√d_k, the softmax rows' entropy, the
  column means the viewer shows;
* the classifier's CLS attention: its share on the image, spectral and colour tokens, its
  spread over the 16 image tokens, and how alike those tokens are (mean pairwise cosine);
* ablations, each one forward pass over all stars: the SE gates replaced by their mean over
  stars (one constant vector), the segment attention replaced by uniform rows or by the saturated
  pattern fixed for every star, the softmax at a temperature; macro F1 and mean |ΔP| for each.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SECTION = "## Why the model's own weights are flat or saturated"
TEMPERATURES = (3.0, 10.0, 30.0)
FLAT_MARGIN = 0.10  # the viewer's "flat" margin (gui/widgets/importance_scale.py); this script stays Qt-free


def macro_f1(p: np.ndarray, labels: np.ndarray) -> float:
    """Macro F1 of ``p >= 0.5`` against 0/1 labels."""
    call = p >= 0.5
    scores = []
    for cls in (0, 1):
        tp = np.sum((call == cls) & (labels == cls))
        fp = np.sum((call == cls) & (labels != cls))
        fn = np.sum((call != cls) & (labels == cls))
        scores.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(scores))


def entropy_ratio(w: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy of probability vectors along ``axis`` ÷ that of uniform (1 = flat, 0 = one-hot)."""
    w = np.clip(w, 1e-12, 1.0)
    return -(w * np.log(w)).sum(axis=axis) / math.log(w.shape[axis])


@contextmanager
def replaced_output(module: torch.nn.Module, fn: Callable) -> Iterator[None]:
    """Run ``module`` with its output replaced by ``fn(inputs, output)`` (a forward hook) inside the block."""
    handle = module.register_forward_hook(lambda _m, inputs, output: fn(inputs, output))
    try:
        yield
    finally:
        handle.remove()


class Probe:
    """Runs a model over prepared inputs in batches, recording the SE, segment-attention and token internals."""

    def __init__(self, model: torch.nn.Module, prepared, batch: int = 250) -> None:
        self.model, self.prepared, self.batch = model, prepared, batch

    def run(self, record: bool = False) -> dict[str, np.ndarray]:
        """P(BHB) of every star (key ``p``), and with ``record`` the internals listed in the module doc."""
        model, prep = self.model, self.prepared
        se, seg = model.image_encoder.se, model.spectrum_encoder.attention
        seen: dict[str, list[np.ndarray]] = {}

        def keep(name: str, value: torch.Tensor) -> None:
            seen.setdefault(name, []).append(value.detach().float().cpu().numpy())

        def se_hook(_m, inputs, output):
            squeeze = inputs[0].mean(dim=(2, 3))
            keep("se_squeeze", squeeze)
            keep("se_logit", se.fc2(torch.relu(se.fc1(squeeze))))
            keep("se_gate", output[1])

        def seg_hook(_m, inputs, output):
            n, length = seg.n_segments, seg.segment_length
            segments = inputs[0][:, : n * length].reshape(-1, n, length)
            keep("seg_logits", seg.w_q(segments) @ seg.w_k(segments).transpose(1, 2) * seg.scale)
            keep("seg_sw", output[1])
            keep("seg_level", segments.mean(dim=2))
            keep("seg_key_norm", seg.w_k(segments).norm(dim=2))

        def image_hook(_m, _inputs, output):
            t = torch.nn.functional.normalize(output.tokens.float(), dim=2)
            cos = t @ t.transpose(1, 2)
            k = cos.shape[1]
            keep("token_cosine", (cos.sum(dim=(1, 2)) - k) / (k * (k - 1)))

        handles = []
        if record:
            handles = [se.register_forward_hook(se_hook), seg.register_forward_hook(seg_hook),
                       model.image_encoder.register_forward_hook(image_hook)]
        try:
            with torch.inference_mode():
                for start in range(0, len(prep.has_spectrum), self.batch):
                    rows = slice(start, start + self.batch)
                    colours = None if prep.photometry is None else prep.photometry[rows]
                    out = model(prep.spectrum[rows], prep.image[rows], photometry=colours)
                    keep("p", torch.softmax(out["logits"].float(), dim=1)[:, 1])
                    if record:
                        keep("cls_attention", out["cls_attention"])
        finally:
            for h in handles:
                h.remove()
        return {k: np.concatenate(v) for k, v in seen.items()}


def describe(rec: dict[str, np.ndarray], labels: np.ndarray, k_i: int, k_s: int) -> dict:
    """The summary numbers of one recorded run (see the module doc)."""
    gate, sw = rec["se_gate"], rec["seg_sw"]
    band_w = gate / gate.sum(axis=1, keepdims=True)
    logits = rec["seg_logits"]
    top2 = np.sort(logits, axis=2)[..., -2:]
    seg_w = sw.mean(axis=1)
    cls = rec["cls_attention"]  # (N, L, H, T)
    cls_mean = cls.mean(axis=(1, 2))
    img = cls_mean[:, 1 : 1 + k_i]
    img_share = img / img.sum(axis=1, keepdims=True)
    # log-weights differ by the logits' differences: their spread over the image tokens is the logits' spread
    img_logits = np.log(np.clip(cls[..., 1 : 1 + k_i], 1e-30, None))
    side = int(round(math.sqrt(k_i)))
    centre = [r * side + c for r in (side // 2 - 1, side // 2) for c in (side // 2 - 1, side // 2)]
    per_band = lambda a: [round(float(v), 5) for v in a]  # noqa: E731
    return {
        "se": {
            "squeeze_mean": per_band(rec["se_squeeze"].mean(0)),
            "squeeze_between_star_std": per_band(rec["se_squeeze"].std(0)),
            "logit_mean": per_band(rec["se_logit"].mean(0)),
            "logit_between_star_std": per_band(rec["se_logit"].std(0)),
            "gate_mean": per_band(gate.mean(0)),
            "gate_between_star_std": per_band(gate.std(0)),
            "gate_min": round(float(gate.min()), 4),
            "gate_max": round(float(gate.max()), 4),
            "gates_saturated": round(float(np.mean((gate < 0.01) | (gate > 0.99))), 4),
            "weight_min": round(float(band_w.min()), 4),
            "weight_max": round(float(band_w.max()), 4),
            "weight_entropy_ratio_median": round(float(np.median(entropy_ratio(band_w))), 5),
            "weight_bhb_mean": per_band(band_w[labels == 1].mean(0)),
            "weight_non_bhb_mean": per_band(band_w[labels == 0].mean(0)),
        },
        "segments": {
            "logit_std_within_row_median": round(float(np.median(logits.std(axis=2))), 2),
            "logit_top_gap_median": round(float(np.median(top2[..., 1] - top2[..., 0])), 2),
            "row_entropy_ratio_median": round(float(np.median(entropy_ratio(sw))), 4),
            "rows_max_weight_median": round(float(np.median(sw.max(axis=2))), 4),
            "rows_argmax_share": [round(float(np.mean(sw.argmax(axis=2) == j)), 4) for j in range(sw.shape[2])],
            "column_mean": per_band(seg_w.mean(0)),
            "column_mean_between_star_std": per_band(seg_w.std(0)),
            "level_mean": per_band(rec["seg_level"].mean(0)),
            "key_norm_mean": per_band(rec["seg_key_norm"].mean(0)),
        },
        "cls": {
            "share_cls_image_spectrum_colour": [
                round(float(cls_mean[:, 0].mean()), 4), round(float(img.sum(1).mean()), 4),
                round(float(cls_mean[:, 1 + k_i : 1 + k_i + k_s].sum(1).mean()), 4),
                round(float(cls_mean[:, 1 + k_i + k_s :].sum(1).mean()), 4),
            ],
            "image_logit_std_median": round(float(np.median(img_logits.std(axis=-1))), 4),
            "image_peak_on_central_tokens": round(float(np.isin(img.argmax(axis=1), centre).mean()), 4),
            "central_tokens_uniform_share": round(len(centre) / k_i, 4),
            "image_max_over_uniform_median": round(float(np.median(img_share.max(1) * k_i)), 4),
            "image_peak_beyond_flat_margin": round(float(np.mean(img_share.max(1) * k_i >= 1.0 + FLAT_MARGIN)), 4),
            "image_max_over_uniform_max": round(float(np.max(img_share.max(1) * k_i)), 4),
            "image_entropy_ratio_median": round(float(np.median(entropy_ratio(img_share))), 5),
            "image_token_cosine_median": round(float(np.median(rec["token_cosine"])), 4),
            "image_token_cosine_p5": round(float(np.percentile(rec["token_cosine"], 5)), 4),
        },
    }


def cls_flat(attn: torch.nn.Module, k_i: int) -> Callable:
    """An output hook for a self-attention block: the CLS row's weights over the image tokens replaced by
    their mean (the share on the image kept), the block's output recomputed with them."""

    def fn(inputs, _output):
        tokens = inputs[0]
        q, k, v = (attn._heads(w(tokens)) for w in (attn.w_q, attn.w_k, attn.w_v))
        weights = torch.softmax((q @ k.transpose(-1, -2) / math.sqrt(attn.d_head)).float(), dim=-1)
        image = weights[:, :, 0, 1 : 1 + k_i]
        weights[:, :, 0, 1 : 1 + k_i] = image.mean(dim=-1, keepdim=True).expand_as(image)
        out = (weights.to(v.dtype) @ v).transpose(1, 2).reshape(tokens.shape)
        return attn.w_o(out), weights

    return fn


def ablations(model, probe: Probe, base: np.ndarray, labels: np.ndarray, gate_mean: np.ndarray,
              saturated: np.ndarray, k_i: int) -> dict:
    """Macro F1 and mean |ΔP| with the SE gates or the segment attention replaced (module doc)."""
    se, seg = model.image_encoder.se, model.spectrum_encoder.attention
    const_gate = torch.as_tensor(gate_mean, dtype=torch.float32)

    def se_constant(inputs, _output):
        g = const_gate.expand(inputs[0].shape[0], -1)
        return inputs[0] * g[:, :, None, None], g

    def seg_with(weights_of: Callable[[torch.Tensor], torch.Tensor]):
        def fn(inputs, _output):
            n = seg.n_segments * seg.segment_length
            segments = inputs[0][:, :n].reshape(-1, seg.n_segments, seg.segment_length)
            s_w = weights_of(segments)
            return (segments + s_w @ segments).reshape(-1, n), s_w
        return fn

    def uniform(segments):
        return torch.full((segments.shape[0], seg.n_segments, seg.n_segments), 1.0 / seg.n_segments)

    fixed = torch.as_tensor(saturated, dtype=torch.float32)

    def tempered(t: float):
        def weights(segments):
            return torch.softmax(seg.w_q(segments) @ seg.w_k(segments).transpose(1, 2) * seg.scale / t, dim=-1)
        return weights

    runs: dict[str, tuple[torch.nn.Module, Callable]] = {
        **{f"cls_image_attention_uniform_layer{i + 1}": (layer.self_attn, cls_flat(layer.self_attn, k_i))
           for i, layer in enumerate(model.layers)},
        "se_gates_constant": (se, se_constant),
        "segment_attention_uniform": (seg, seg_with(uniform)),
        "segment_attention_fixed_saturated": (seg, seg_with(lambda s: fixed.expand(s.shape[0], -1, -1))),
        **{f"segment_softmax_temperature_{t:g}": (seg, seg_with(tempered(t))) for t in TEMPERATURES},
    }
    out = {"none": {"macro_f1": round(macro_f1(base, labels), 4), "mean_abs_dp": 0.0}}
    for name, (module, fn) in runs.items():
        with replaced_output(module, fn):
            p = probe.run()["p"]
        out[name] = {"macro_f1": round(macro_f1(p, labels), 4), "mean_abs_dp": round(float(np.abs(p - base).mean()), 4),
                     "max_abs_dp": round(float(np.abs(p - base).max()), 4)}
    return out


def plot(trained: dict, fresh: dict, raw: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12.0, 3.6))
    ax = axes[0]
    for name, rec, colour in (("trained", raw["trained"], "C0"), ("initialised", raw["fresh"], "C7")):
        w = rec["se_gate"] / rec["se_gate"].sum(axis=1, keepdims=True)
        for b in range(w.shape[1]):
            ax.scatter(
                np.full(len(w), b)
                + (0.12 if name == "trained" else -0.12)
                + np.random.default_rng(b).normal(0, 0.03, len(w)),
                w[:, b],
                s=2,
                alpha=0.3,
                color=colour,
                label=name if b == 0 else None,
            )
    ax.axhline(0.2, color="k", lw=0.8, ls=":")
    ax.set_xticks(range(5), list("ugriz"))
    ax.set_ylabel("SE band weight (normalised gate)")
    ax.set_title("band weights, every star (uniform 0.2)", fontsize=9)
    ax.legend(frameon=False, fontsize=8, markerscale=4)
    ax = axes[1]
    bins = np.linspace(0, 1, 41)
    for name, rec, colour in (("trained", raw["trained"], "C0"), ("initialised", raw["fresh"], "C7")):
        ax.hist(entropy_ratio(rec["seg_sw"]).ravel(), bins=bins, color=colour, alpha=0.6, label=name)
    ax.set_xlabel("segment-attention row entropy ÷ uniform's")
    ax.set_ylabel("rows (7 per star)")
    ax.set_title(f"segment softmax: logit gap {trained['segments']['logit_top_gap_median']:.0f} (trained), "
                 f"{fresh['segments']['logit_top_gap_median']:.0f} (init)", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    ax = axes[2]
    cls = raw["trained"]["cls_attention"].mean(axis=(1, 2))[:, 1:17]
    share = cls / cls.sum(axis=1, keepdims=True) * 16
    ax.hist(share.max(axis=1), bins=30, color="C0", alpha=0.7, label="peak ÷ uniform")
    ax.axvline(1.1, color="k", lw=0.8, ls=":", label="the viewer's 'flat' margin")
    ax.set_xlabel("peak ÷ uniform")
    ax.set_ylabel("stars")
    ax.set_title(
        "CLS attention on the image tokens\n(their mean pairwise "
        f"cosine {trained['cls']['image_token_cosine_median']:.2f})",
        fontsize=9,
    )
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict, name: str) -> str:
    t, f, a = result["trained"], result["initialised"], result["ablations"]
    se, seg, cls = t["se"], t["segments"], t["cls"]
    fse, fseg, ci = f["se"], f["segments"], f["cls"]
    base = a["none"]["macro_f1"]

    def abl(key: str) -> str:
        r = a[key]
        return f"macro F1 {r['macro_f1']:.3f} ({r['macro_f1'] - base:+.3f}), mean |ΔP| {r['mean_abs_dp']:.3f}"

    temps = "; ".join(f"T = {k.rsplit('_', 1)[1]}: {abl(k)}" for k in a if k.startswith("segment_softmax_temperature"))
    cls_abl = [k for k in a if k.startswith("cls_image_attention_uniform")]
    one_hot = seg["row_entropy_ratio_median"] < 0.05  # what the words below may call the rows
    fixed_routing = one_hot and abs(a["segment_attention_fixed_saturated"]["macro_f1"] - base) < 0.01
    cls_flat = cls["image_max_over_uniform_median"] <= 1.0 + FLAT_MARGIN
    lines = [
        SECTION,
        "",
        f"Made by `python scripts/collapse_check.py {Path(result['data']).name} --model "
        f"{result['model']} --n {result['n']}` ({result['n']} stars of {result['sky']}, "
        f"{result['n_bhb']} BHB). The same numbers for the architecture freshly initialised (seed "
        f"{result['seed']}, same inputs) show what training changed. Macro F1 of the checkpoint on "
        f"these stars: {base:.3f}. Each ablation below is one forward pass with one internal replaced.",
        "",
        f"![collapse]({name}.png)",
        "",
        "**SE band weights are flat: the gate's input hardly varies, and training left the gate where it started.** "
        "The squeeze is each band's mean over the whole 64×64 preprocessed stamp, mostly sky, so between stars it "
        f"moves by σ = {min(se['squeeze_between_star_std']):.3f}–{max(se['squeeze_between_star_std']):.3f} "
        "(standardised units); through the two small FC layers that is a logit σ ≤ "
        f"{max(se['logit_between_star_std']):.3f} and a gate σ ≤ {max(se['gate_between_star_std']):.4f}. The gates "
        f"(the sigmoids, before the viewer divides by their sum) are {se['gate_min']:.3f}–{se['gate_max']:.3f} "
        f"trained and {fse['gate_min']:.3f}–{fse['gate_max']:.3f} initialised: not saturated "
        f"({se['gates_saturated']:.0%} within 0.01 of 0 or 1), and barely moved. A constant gate per band is the "
        "same function as a rescaled first convolution, so the loss has nothing to gain from moving it. Normalised "
        f"weights {se['weight_min']:.3f}–{se['weight_max']:.3f} (uniform 0.2), entropy "
        f"{se['weight_entropy_ratio_median']:.4f} of uniform's, class means (u…z) BHB "
        f"{', '.join(f'{v:.3f}' for v in se['weight_bhb_mean'])}, non-BHB "
        f"{', '.join(f'{v:.3f}' for v in se['weight_non_bhb_mean'])}. Ablation, every star's gates replaced by "
        f"their mean over stars: {abl('se_gates_constant')}. The per-star part carries nothing.",
        "",
        (
            f"**Segment weights are {'saturated' if one_hot else 'concentrated'}: training grew the attention logits "
            f"until {'the softmax became one-hot' if one_hot else 'most of each row sits on one or two segments'}.** "
        )
        + "Initialised, the logits within a row spread by σ = "
          f"{fseg['logit_std_within_row_median']:.2f} and the softmax is uniform (row entropy "
        f"{fseg['row_entropy_ratio_median']:.3f} of uniform's). Trained, they spread by σ = "
        f"{seg['logit_std_within_row_median']:.0f}, the top one leading the next by "
        f"{seg['logit_top_gap_median']:.0f} (medians), and the rows are {'one-hot' if one_hot else 'concentrated'} "
        f"(entropy {seg['row_entropy_ratio_median']:.3f} of uniform's, largest weight "
        f"{seg['rows_max_weight_median']:.3f}). The segments (503 raw pixels of a min–max scaled spectrum) enter "
        "W_Q and W_K with no normalisation and no temperature, so the logits grow with the weights and with the "
        f"flux level: s1…s7 sit at mean levels {', '.join(f'{v:.2f}' for v in seg['level_mean'])}, and the key "
        f"norms grew from {', '.join(f'{v:.1f}' for v in fseg['key_norm_mean'])} to "
        f"{', '.join(f'{v:.0f}' for v in seg['key_norm_mean'])}. The bluest, brightest segment wins: the rows' "
        f"argmax is s1 in {seg['rows_argmax_share'][0]:.0%} of rows and the column means shown as segment weights "
        f"are {', '.join(f'{v:.3f}' for v in seg['column_mean'])} (between-star σ ≤ "
        f"{max(seg['column_mean_between_star_std']):.4f}). "
        + (
            "Once one-hot the softmax's gradient is ≈ 0, so nothing pulls it back. "
            "What was learned is a fixed routing, the same for every star: add s1 "
            "(4,000–4,491 Å, Hδ and Hγ) to every segment. The ablations say so: "
            if fixed_routing
            else "The weights still vary between stars, and the model uses that: the ablations, "
        )
        + "that pattern fixed for every star, "
        f"{abl('segment_attention_fixed_saturated')}; uniform rows instead, "
        f"{abl('segment_attention_uniform')} (the VGG relies on the copy); a temperature at inference, "
        f"{temps}. The weights are saturated by training, not by the display, so no display fixes them: a fix "
        "has to be trained in. A LayerNorm on the segments before W_Q/W_K was tried; see the next section.",
        "",
        (
            "**CLS attention over the cutout is flat: the classifier's query hardly tells the image tokens apart.** "
            if cls_flat
            else "**CLS attention over the cutout varies, but the score does not rest on where it looks.** "
        )
        + f"The tokens are not copies of each other (mean pairwise cosine {cls['image_token_cosine_median']:.2f}, "
        f"{ci['image_token_cosine_median']:.2f} initialised), but the CLS token's logits over them spread by only "
        f"σ = {cls['image_logit_std_median']:.3f} (median over stars, layers and heads), so its weights stay close to "
        f"uniform (layer- and head-mean peak ÷ uniform {cls['image_max_over_uniform_median']:.3f}, entropy "
        f"{cls['image_entropy_ratio_median']:.4f} of uniform's). The peak falls on the 2×2 tokens over the star in "
        f"{cls['image_peak_on_central_tokens']:.0%} of stars ({cls['central_tokens_uniform_share']:.0%} by chance). "
        f"Shares of the CLS attention on CLS / image / spectral / colour tokens: "
        f"{' / '.join(f'{v:.3f}' for v in cls['share_cls_image_spectrum_colour'])}. Ablation, the CLS row made uniform "
        "over the image tokens (their total share kept): "
        + "; ".join(f"layer {k[-1]}, {abl(k)}" for k in cls_abl)
        + ". The image matters to the score (the band importance above), but where on the stamp the CLS token "
        "looks does not: its map is no evidence of what the model used. The viewer's 10 % margin still lets about "
        f"{cls['image_peak_beyond_flat_margin']:.0%} of these maps be drawn (their excess over uniform; the largest "
        f"peak, {cls['image_max_over_uniform_max']:.2f}× uniform, at {cls['image_max_over_uniform_max'] - 1:.0%} of "
        "full strength); they are drawn only when chosen, under the model's name.",
        "",
        f"**The recipe.** Stages {' → '.join(result['stages'])}: the SE block and the "
        "segment attention are trained only in their encoder's stage, against that encoder's "
        "own head, and frozen from then on, so the fusion stage could not undo what they "
        "became; the collapse of the segment weights happened in the spectrum stage itself.",
        "",
        "**What the viewer does with this.** Measured importance is the default overlay: the spectrum's segments, "
        "the band strip, and occlusion over the cutout. The model's own weights are drawn where nothing was "
        "measured (band and segment weights) or when chosen (attention), labelled as the model's. They are drawn "
        "as departures from uniform (1/5 per band, 1/7 per segment) on a fixed symmetric scale and called flat "
        "within the stated margin. The attention map is drawn against uniform, and not at all when flat.",
        "",
    ]
    return "\n".join(lines)


def put_section(page: Path, section: str, heading: str = SECTION) -> None:
    """Replace the section of ``page`` under ``heading`` (to the next ``## `` heading or the end) by
    ``section``, or append it."""
    text = page.read_text() if page.exists() else ""
    section = section.rstrip("\n") + "\n\n"  # a blank line before whatever heading follows
    pattern = re.compile(re.escape(heading) + r".*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _m: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    page.write_text(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="a labelled data set directory")
    ap.add_argument("--model", default=str(ROOT / "models" / "batmm-lite-sim"))
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--name", default="collapse")
    args = ap.parse_args(argv)

    from bhb_viewer.core.dataset import open_dataset
    from bhb_viewer.core.readers.catalog_mags import catalog_magnitudes
    from bhb_viewer.core.science.photometry import grid_magnitudes
    from bhb_viewer.ml.inference import Predictor, fuse_batchnorm, prepare_inputs
    from bhb_viewer.ml.models import build_model
    from bhb_viewer.ml.training import default_stages

    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = open_dataset(args.data)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(len(data), size=min(args.n, len(data)), replace=False))
    labels = np.asarray(data.labels[rows])
    predictor = Predictor(args.model, device="cpu")
    prepared = prepare_inputs(predictor.preprocessor, predictor.modalities, np.asarray(data.spectra[rows]),
                              np.asarray(data.ivar[rows]), np.asarray(data.cutouts[rows]),
                              catalog_magnitudes(data.catalog)[rows], mags_from_spectra=grid_magnitudes)
    spec = predictor.config["model"]
    torch.manual_seed(args.seed)
    fresh_model = fuse_batchnorm(build_model(spec["name"], spec["size"], **spec.get("arch", {})).eval())
    k_i = predictor.model.k_i
    raw = {"trained": Probe(predictor.model, prepared).run(record=True),
           "fresh": Probe(fresh_model, prepared).run(record=True)}
    k_s = predictor.model.k_s
    trained, fresh = describe(raw["trained"], labels, k_i, k_s), describe(raw["fresh"], labels, k_i, k_s)
    saturated = raw["trained"]["seg_sw"].mean(axis=0)
    training = predictor.config.get("training", {})
    stages = training.get("stages") or default_stages(predictor.model, bool(training.get("finetune")))
    made = data.manifest.get("provenance", {})
    sky = f"a sky simulated with seed {made['seed']}" if "seed" in made else "the data set"
    result = {
        "data": str(args.data),
        "sky": sky,
        "model": str(args.model),
        "stages": stages,
        "n": int(len(rows)),
        "n_bhb": int(labels.sum()),
        "seed": args.seed,
        "trained": trained,
        "initialised": fresh,
        "ablations": ablations(
            predictor.model, Probe(predictor.model, prepared), raw["trained"]["p"], labels,
            raw["trained"]["se_gate"].mean(axis=0), saturated, k_i,
        ),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(trained, fresh, raw, args.out / f"{args.name}.png")
    put_section(args.out / "faithfulness.md", markdown(result, args.name))
    print(json.dumps(result["ablations"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
