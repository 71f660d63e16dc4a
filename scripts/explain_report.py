"""Turn a ``bhb explain`` JSON into the faithfulness page: NAME.md, NAME.json and NAME.png (deletion curves).

Usage::

    bhb explain SKY --model models/batmm-lite-sim --n 200 --seed 0 --out explain.json
    python scripts/explain_report.py --json explain.json [--out docs/results] [--name faithfulness]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"saliency": "gradient saliency (spectrum)", "occlusion": "window occlusion (spectrum)",
          "random": "random order (spectrum)", "attention": "model's attention (cutout)",
          "attention_random": "random order (cutout)"}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    x = result["deletion_fractions"]
    for key, curve in result["deletion_curves"].items():
        ax.plot(x, curve, marker="o", ms=3, ls="--" if "random" in key else "-", label=LABELS.get(key, key))
    ax.set_xlabel("fraction removed, most important first")
    ax.set_ylabel("P(the star's predicted class)")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"Deletion curves, {result['n']} stars, {Path(result['model']).name}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict, name: str) -> str:
    d = result["deletion_area"]
    conc = np.array([s["attention_concentration"] for s in result["stars"] if s["attention_concentration"] is not None])
    lines = [f"# Overlays that tell the truth: measured importance and faithfulness ({result['n']} stars)", "",
             f"Made by `bhb explain {result['data']} --model {result['model']} --n {result['n']} "
             f"--seed {result['seed']}` and `scripts/explain_report.py`. Method: `bhb_viewer/ml/importance.py`.", "",
             "## Deletion areas (lower: the attribution finds what the score rests on)", "",
             "| attribution | area | random's | difference |", "|---|---|---|---|"]
    for key in ("saliency", "occlusion"):
        lines.append(f"| {LABELS[key]} | {d[key]:.3f} | {d['random']:.3f} | {d[key] - d['random']:+.3f} |")
    if d.get("attention") is not None:
        lines.append(f"| {LABELS['attention']} | {d['attention']:.3f} | {result['attention_random_area']:.3f} | "
                     f"{d['attention'] - result['attention_random_area']:+.3f} |")
    lines += ["", f"![deletion curves]({name}.png)", ""]
    if conc.size:
        lines += [f"Attention concentration (share on the central 8×8 pixels ÷ the uniform share): median "
                  f"{np.median(conc):.3f}, 5–95 % {np.percentile(conc, 5):.3f}–{np.percentile(conc, 95):.3f}; "
                  "1 is flat. The cutout panel draws the model's attention against uniform on a fixed scale and "
                  "draws nothing, saying \"flat\", when its peak is within 10 % of uniform.", ""]
    if "band_importance_by_class" in result:
        lines += ["## Band importance by class (P(original) − P(band replaced by its background))", "",
                  "| band | BHB mean | non-BHB mean | Mann–Whitney p |", "|---|---|---|---|"]
        for b, v in result["band_importance_by_class"].items():
            lines.append(f"| {b} | {v['bhb_mean']:+.3f} | {v['non_bhb_mean']:+.3f} | {v['mannwhitney_p']:.1e} |")
        lines += ["", "## Segment importance by class (P(original) − P(segment replaced by the continuum))", "",
                  "| segment | BHB mean | non-BHB mean |", "|---|---|---|"]
        for s, v in result["segment_importance_by_class"].items():
            lines.append(f"| {s} | {v['bhb_mean']:+.3f} | {v['non_bhb_mean']:+.3f} |")
    return "\n".join(lines) + "\n"


def other_sections(old: str, new: str) -> str:
    """The ``## `` sections of the page as it was that this report does not write (scripts/collapse_check.py's),
    kept after its own so either script can be rerun without losing the other's."""
    own = set(re.findall(r"^## .*$", new, re.M))
    return "".join(part for part in re.split(r"(?m)^(?=## )", old)[1:] if part.splitlines()[0] not in own)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--name", default="faithfulness")
    args = ap.parse_args(argv)
    result = json.loads(args.json.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    plot(result, args.out / f"{args.name}.png")
    page = args.out / f"{args.name}.md"
    text = markdown(result, args.name)
    kept = other_sections(page.read_text() if page.exists() else "", text)
    page.write_text(text + ("\n" + kept if kept else ""))
    if args.json.resolve() != (args.out / f"{args.name}.json").resolve():
        shutil.copyfile(args.json, args.out / f"{args.name}.json")
    print(json.dumps(result["deletion_area"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
