"""``bhb simulate``: write a simulated, labelled data set, or print how well the simulator is calibrated."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bhb_viewer.core.sim import DEFAULT_BHB_FRACTION, DEFAULT_LABELS, DEFAULT_N

    parser.add_argument(
        "--n", type=int, default=None, help=f"number of stars (default {DEFAULT_N} for a data set, 3000 for --report)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed; the same seed gives identical arrays (default 0)"
    )
    parser.add_argument("--out", metavar="DIR", help="data set directory to write (truth.ecsv beside it)")
    parser.add_argument("--force", action="store_true", help="replace a data set already in --out")
    parser.add_argument(
        "--labels",
        choices=("xue", "physical"),
        default=DEFAULT_LABELS,
        help="the 'label' column: xue = passes the Xue 2011 cuts as an independent catalogue "
        "measured them (what the paper did), physical = horizontal-branch gravity (what the "
        f"shipped model is trained on); both are in truth.ecsv (default {DEFAULT_LABELS})",
    )
    parser.add_argument("--engine", choices=("empirical", "parametric"), default="empirical",
                        help="stellar spectra: empirical = emulated MILES stars (simulator 3.x), parametric = "
                        "simulator 2.0's line model, so older tables reproduce (default empirical)")
    parser.add_argument(
        "--deredden", action="store_true",
        help="correct catalogue magnitudes and spectra for extinction (default: uncorrected, as the paper)",
    )
    parser.add_argument(
        "--bhb-fraction", type=float, default=DEFAULT_BHB_FRACTION,
        help="fraction of BHB stars (default: the paper's 4752/12032)",
    )
    parser.add_argument("--cutout-size", type=int, default=64, help="cutout side in pixels (default 64)")
    parser.add_argument(
        "--report", action="store_true",
        help="print the calibration figures against the Xue et al. (2011) sample (with --out: of the data set written)",
    )
    parser.add_argument(
        "--reference", metavar="PATH", help="the Xue 2011 table (xue2011_bhb.dat with its ReadMe); default $BHB_XUE2011"
    )
    parser.add_argument("--json", action="store_true", help="with --report: print the figures as one JSON object")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes rendering chunks of stars (same arrays for any number)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _print_report(report: dict) -> None:
    from bhb_viewer.core.sim.calibration import COLOUR_F1_LIMIT, KS_LIMIT, PURITY_RANGE

    def mark(ok: bool) -> str:
        return "ok" if ok else "OUT OF RANGE"

    print(
        f"simulated {report['n']} stars ({report['n_bhb']} BHB, {report['n_non_bhb']} non-BHB), seed {report['seed']}"
    )
    print(
        f"(a) simulated BHBs passing the classical cuts vs {report['n_reference']} "
        f"Xue 2011 BHBs: two-sample KS statistic (limit {KS_LIMIT})"
    )
    for q, d in report["ks"].items():
        print(f"    {q:6s} {d:.3f}  {mark(d <= KS_LIMIT)}")
    print("(b) difficulty")
    print(
        f"    classical cuts: purity {report['classical_purity']:.3f} (target "
        f"{PURITY_RANGE[0]:.2f}–{PURITY_RANGE[1]:.2f}) {mark(report['passes']['classical_purity'])}, "
        f"completeness {report['classical_completeness']:.3f}, {report['classical_selected']} selected"
    )
    print(
        f"    best straight colour cut (g−r, u−g): macro F1 {report['colour_cut_f1']:.3f}, BHB F1 "
        f"{report['colour_cut_f1_bhb']:.3f} (limit {COLOUR_F1_LIMIT}) {mark(report['passes']['colour_cut_f1'])}"
    )
    print(f"    Balmer fits failed: {report['balmer_fit_failures']}; labels {report.get('labels')}, "
          f"agreement with the physical class {report.get('label_agreement_physical', float('nan')):.3f}")
    if "realism" in report:
        print("(c) instrument: simulated | real (source)")
        for key, entry in report["realism"].items():
            print(f"    {key}: {_short(entry['simulated'])} | {_short(entry.get('real'))} ({entry.get('source', '')})")
    if "fm_window" in report:
        print(
            f"(d) Balmer fit window (± Å) for {report['fm_window']['n']} "
            "cut-passing BHBs: fm / D0.2 median, KS vs Xue 2011"
        )
        for w, entry in report["fm_window"]["windows"].items():
            fm, d02 = entry["fm"], entry["d02"]
            print(
                f"    ±{w:>3} Å  fm {_short(fm['median'])} (KS {_short(fm.get('ks_vs_xue2011'))})  D0.2 "
                f"{_short(d02['median'])} (KS {_short(d02.get('ks_vs_xue2011'))})  failures {entry['fit_failures']}"
            )


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "–".join(_short(v) for v in value)
    return str(value)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bhb_viewer.core.dataset import is_dataset, unfinished_files
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.progress import TerminalProgress, no_progress
    from bhb_viewer.core.sim import DEFAULT_N, SimulatorConfig, write_simulated

    progress = no_progress if args.quiet else TerminalProgress(sys.stderr)
    if args.n is not None and args.n < 1:
        print("error: --n must be at least 1", file=sys.stderr)
        return 2
    if not 0.0 <= args.bhb_fraction <= 1.0:
        print("error: --bhb-fraction must lie between 0 and 1", file=sys.stderr)
        return 2
    if not args.report and not args.out:
        print("error: give --out DIR to write a data set, or --report for the calibration figures", file=sys.stderr)
        return 2
    config = SimulatorConfig(label_kind=args.labels, extinction_corrected=args.deredden, engine=args.engine)
    if args.out and is_dataset(args.out) and not args.force:
        raise BadInputError(args.out, "already holds a data set; use --force to replace it")
    out = Path(args.out or "")
    if args.out and not is_dataset(out) and out.is_dir() and any(out.iterdir()) and not unfinished_files(out):
        raise BadInputError(out, "folder is not empty; the data set is written into a new or empty folder")
    if args.out:
        path = write_simulated(
            args.out, args.n or DEFAULT_N, args.seed, args.bhb_fraction, args.cutout_size, progress, config,
            args.workers,
        )
        print(f"wrote {args.n or DEFAULT_N} simulated stars to {path}", file=sys.stderr if args.json else sys.stdout)
    if args.report:
        from bhb_viewer.core.sim.calibration import calibration_report, dataset_report

        if args.out:  # the figures of exactly the data set just written
            report = dataset_report(args.out, reference=args.reference, progress=progress)
        else:
            report = calibration_report(
                n=args.n or 3000, seed=args.seed, bhb_fraction=args.bhb_fraction, reference=args.reference,
                config=config, progress=progress,
            )
        if args.json:
            print(json.dumps(report))
        else:
            _print_report(report)
    return 0
