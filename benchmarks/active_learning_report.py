"""Turn ``bench_active_learning.py``'s JSON into ``docs/results/active-learning.md``.

    python benchmarks/active_learning_report.py RUN/active-learning.json [--png RUN/active-learning.png]
        [--out docs/results/active-learning.md]

The table gives the mean ± σ test macro F1 over seeds after each round; the finding is worded from
the numbers (labels needed to reach random's final F1, and the mean F1 over all rounds), so it says
plainly when uncertainty sampling does not win.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

STRATEGIES = ("uncertainty", "disagreement", "random")


def _run_args(argv: list[str]) -> list[str]:
    """The benchmark's arguments with its output folder written as RUN."""
    return ["RUN" if i and argv[i - 1] == "--out" else a for i, a in enumerate(argv)]


def finding(result: dict) -> list[str]:
    """Plain sentences from the curves: who reached the target first, and who was best on average."""
    labels, mean, target = result["labels"], result["mean"], result["target_f1"]
    reach = result["labels_to_target"]
    lines = []
    own = reach["random"]
    for s in ("uncertainty", "disagreement"):
        if reach[s] is None:
            lines.append(f"- **{s}** never reached random's final F1 ({target:.4f}) within {labels[-1]} labels.")
        else:
            low, high = own - reach[s], labels[-1] - reach[s]
            saved = f"{low} labels saved" if low == high else f"{low} to {high} labels saved"
            lines.append(f"- **{s}** reached random's final F1 ({target:.4f}) at {reach[s]} labels; random first "
                         f"touched that level at {own} and ends there at {labels[-1]} ({saved}).")
    avg = {s: sum(mean[s][1:]) / len(mean[s][1:]) for s in STRATEGIES}
    best = max(avg, key=avg.get)
    lines.append("- Mean test macro F1 over the rounds after the first: "
                 + ", ".join(f"{s} {avg[s]:.4f}" for s in STRATEGIES) + f" (best: {best}).")
    final = {s: mean[s][-1] for s in STRATEGIES}
    lines.append("- Final F1 (" + str(labels[-1]) + " labels): "
                 + ", ".join(f"{s} {final[s]:.4f} ± {result['std'][s][-1]:.4f}" for s in STRATEGIES) + ".")
    won = reach["uncertainty"] is not None and reach["uncertainty"] < labels[-1] and best == "uncertainty"
    lines.append("- Uncertainty sampling " + ("**won** on both measures." if won else
                 "did **not** win on both measures (labels to target and mean F1); see the table for where it stands."))
    noise = max(max(result["std"][s]) for s in STRATEGIES)
    lines.append(f"- Caveats: the gaps are about one F1 point while single rounds scatter by up to {noise:.3f} (σ over "
                 f"{len(result['seeds'])} seeds); the model is a cheap stand-in, not BATMM; the 'vetting' is the "
                 "simulator's truth, so a person's mistakes are not modelled.")
    return lines


def render(result: dict, png_name: str | None) -> str:
    c = result["config"]
    out = [
        "# Active learning: which stars to vet next (simulated)",
        "",
        "Made by `benchmarks/bench_active_learning.py` and `benchmarks/active_learning_report.py`. "
        f"Pool {c['pool']} simulated stars, held-out test set {c['test']}, start {c['start']} labelled, "
        f"rounds of {c['batch']}, {len(result['seeds'])} seed(s). Model: {result['model']} "
        f"({c['first_epochs']} epochs on the first set, then {c['epochs']} per round). Device {result['device']}, "
        f"{result['threads']} torch thread(s) of {result['cpus']} CPUs, load average before/after "
        f"{result['load_before'][0]} / {result['load_after'][0]}, wall {result['wall_s']} s.",
        "",
        "Reproduce: `python benchmarks/bench_active_learning.py "
        + " ".join(_run_args(result.get("argv", ["--out", "RUN"])))
        + "` then `python benchmarks/active_learning_report.py RUN/active-learning.json "
        "--png RUN/active-learning.png`.",
        "",
        "Strategies: **uncertainty** (|P − 0.5| smallest), **disagreement** (model call ≠ classical Balmer cuts, "
        "strongest first, topped up at random), **random**. Labels: the simulated stars' "
        f"{result.get('label_kind', 'physical')} class (simulator {result.get('simulator_version', '1')}); "
        "the classical cuts are the app's own Balmer fits of the observed spectra (docs/DECISIONS.md).",
        "",
        "## Finding",
        "",
        *finding(result),
        "",
        "## Test macro F1 after each round (mean ± σ over seeds)",
        "",
        "| labels | " + " | ".join(STRATEGIES) + " |",
        "|---:|" + "---:|" * len(STRATEGIES),
    ]
    for i, n in enumerate(result["labels"]):
        out.append(f"| {n} | " + " | ".join(f"{result['mean'][s][i]:.4f} ± {result['std'][s][i]:.4f}"
                                            for s in STRATEGIES) + " |")
    out += ["", "Labels needed to reach random's final mean F1: "
            + ", ".join(f"{s} {result['labels_to_target'][s]}" for s in STRATEGIES) + "."]
    if png_name:
        out += ["", f"![test macro F1 per round]({png_name})"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json", type=Path)
    parser.add_argument("--png", type=Path, help="the run's plot, copied next to the report")
    parser.add_argument("--out", type=Path, default=Path("docs/results/active-learning.md"))
    args = parser.parse_args(argv)
    result = json.loads(args.json.read_text())
    png_name = None
    if args.png:
        png_name = args.out.with_suffix(".png").name
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.png, args.out.with_suffix(".png"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(result, png_name))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
