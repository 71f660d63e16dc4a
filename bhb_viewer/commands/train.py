"""``bhb train``: train one model on a data set (the GUI wizard runs this same command as a child
process with ``--progress-json``). Ctrl-C or SIGTERM stops between steps and leaves a run that
``--resume RUN_DIR`` continues."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# flag -> TrainConfig field; flags left unset keep the config file's (or the default) value
_FLAGS = {
    "dataset": "dataset", "model": "model", "size": "size", "seed": "seed", "out": "out",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "weight_decay": "weight_decay",
    "patience": "patience", "device": "device", "num_workers": "num_workers", "threads": "threads",
    "max_steps_per_epoch": "max_steps_per_epoch", "finetune": "finetune", "init_from": "init_from", "freeze": "freeze",
    "base": "base", "base_ratio": "base_ratio", "base_any": "base_any",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", metavar="DIR", help="data set directory (bhb simulate / bhb dataset)")
    parser.add_argument("--model", help="registry name (bhb models), or svm / xgboost; default batmm")
    parser.add_argument("--size", help="paper, lite or tiny; default lite")
    parser.add_argument("--seed", type=int, help="split and initialisation seed; default 0")
    parser.add_argument("--out", metavar="RUN_DIR", help="run directory to write (checkpoint + metrics)")
    parser.add_argument("--config", metavar="FILE", help="TrainConfig as .json or .toml; flags override it")
    parser.add_argument("--epochs", type=int, help="epochs per stage; default 10")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument(
        "--lr", type=float,
        help="AdamW learning rate; default 1e-4 (the paper's) for --size paper, 1e-3 for lite and tiny",
    )
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    parser.add_argument("--finetune", action="store_true", default=None, help="add the end-to-end fine-tune stage")
    parser.add_argument(
        "--init-from",
        metavar="MODEL_DIR",
        help="fine-tune: start from this checkpoint (same --model and --size) and keep its preprocessing, "
        "instead of training from scratch; the way to learn from a few hundred verdicts",
    )
    parser.add_argument("--freeze", choices=("encoders", "none", "fusion"),
                        help="with --init-from: what stays frozen; encoders (default: only the fusion and head "
                             "learn), none (end to end) or fusion (only the --diagnostics branch learns)")
    parser.add_argument(
        "--base",
        metavar="DATASET_DIR",
        help="with --init-from: mix stars of the model's own training sky (the data set its "
        "config.json names, checked by manifest hash) into the training split, so a few "
        "verdicts do not make it forget that sky; validation and test stay your own stars",
    )
    parser.add_argument("--base-ratio", type=float,
                        help="with --base: base stars per training star of --dataset, drawn in the base's class "
                             "shares from --seed; default 1 (as many as yours)")
    parser.add_argument("--base-any", action="store_true", default=None,
                        help="with --base: accept a data set other than the one the checkpoint records")
    parser.add_argument("--photometry", action="store_true",
                        help="the model also reads the catalogue colours u-g, g-r, r-i, i-z (fusion Transformers; the "
                             "data set needs u..z and u_err..z_err) and so scores candidates without cutouts too; "
                             "the same as model_overrides = {photometry = true} in --config")
    parser.add_argument("--diagnostics", action="store_true",
                        help="with --photometry (or a photometry checkpoint to --init-from): a branch on the "
                             "spectrum's Balmer diagnostics (D0.2, fm, b and c of H-gamma) and the colours, its "
                             "P(BHB) averaged with the fusion's; the same as model_overrides = {diagnostics = true}")
    parser.add_argument("--max-steps-per-epoch", type=int, help="cap steps per epoch (smoke runs)")
    parser.add_argument("--device", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:1, mps")
    parser.add_argument("--num-workers", type=int, help="data-loader worker processes; default 0")
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest on a busy shared CPU)")
    parser.add_argument("--progress-json", action="store_true", help="JSON lines on stdout instead of a progress bar")
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a cancelled or killed run (its config holds; "
             "--epochs/--patience/--device/--threads/--num-workers may change)",
    )


def _config(args: argparse.Namespace):
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.training.train_config import TrainConfig

    overrides = {field: getattr(args, flag) for flag, field in _FLAGS.items()}
    # --photometry and --diagnostics add to the config file's model_overrides rather than replace them
    overrides["model_overrides"] = {name: True for name in ("photometry", "diagnostics") if getattr(args, name)} or None
    try:
        if args.config:
            config = TrainConfig.from_file(args.config, **overrides)
        else:
            given = {k: v for k, v in overrides.items() if v is not None}
            if "dataset" not in given or "out" not in given:
                raise BadInputError(
                    None, "bhb train needs --dataset DIR and --out RUN_DIR (or --config FILE, or --resume RUN_DIR)"
                )
            config = TrainConfig.from_dict(given)
        return config
    except (ValueError, TypeError, OSError) as exc:
        if isinstance(exc, BadInputError):
            raise
        raise BadInputError(args.config, str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    from bhb_viewer.core.progress import Cancelled, CancelToken, JsonLinesProgress, TerminalProgress, cancel_on_signals
    from bhb_viewer.core.training.train_config import TrainConfig
    from bhb_viewer.ml.distributed import ranks_from_env
    from bhb_viewer.ml.training import RESUME_OVERRIDABLE, fit

    emit_json = args.progress_json
    overrides: dict = {}
    if args.resume:
        config, resume = TrainConfig(dataset="", out=args.resume), True
        overrides = {f: getattr(args, f) for f in RESUME_OVERRIDABLE}
    else:
        config, resume = _config(args), False
    _check(config if not resume else None, overrides, args)
    main_rank = ranks_from_env().main  # under torchrun only rank 0 reports
    progress = JsonLinesProgress() if emit_json else TerminalProgress()
    try:  # the first SIGINT/SIGTERM stops cleanly between steps, a second one at once
        with cancel_on_signals(CancelToken()) as cancel:
            run_dir = fit(config, progress=progress, cancel=cancel, resume=resume, resume_overrides=overrides)
    except Cancelled as exc:
        if main_rank:
            _report({"event": "cancelled", "run_dir": str(config.out), "message": str(exc)}, emit_json)
        return 130
    except (ValueError, FileNotFoundError) as exc:
        _report({"event": "error", "message": str(exc)}, emit_json, stream=sys.stdout if emit_json else sys.stderr)
        return 2
    if not main_rank:
        return 0
    test = json.loads((Path(run_dir) / "test_metrics.json").read_text())
    _report({"event": "done", "run_dir": str(run_dir), "test_macro": test["macro"], "test_auc": test["auc"]}, emit_json)
    return 0


def _check(config, overrides: dict, args: argparse.Namespace) -> None:
    """Refuse impossible settings before anything heavy, naming the flag (issue 12): the counts and
    learning rate (``core.training.train_config``'s checks, here for what --resume may change), the device
    must exist, --out must be a folder (or not exist yet)."""
    import torch

    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.core.training.train_config import check_options

    try:
        check_options(overrides)
    except ValueError as exc:
        raise BadInputError(None, str(exc)) from exc
    device = overrides.get("device") or (config.device if config is not None else None)
    if device and device != "auto":
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise BadInputError(None, f"--device {device!r} is not a device name ({exc})") from exc
        if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
            raise BadInputError(None, f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    out = Path(config.out if config is not None else args.resume)
    if out.exists() and not out.is_dir():
        raise BadInputError(out, "--out names a file; give a run folder")


def _report(obj: dict, emit_json: bool, stream=None) -> None:
    stream = stream or sys.stdout
    if emit_json:
        print(json.dumps(obj), file=stream, flush=True)
    elif obj["event"] == "done":
        m = obj["test_macro"]
        print(
            f"{obj['run_dir']}: test macro P {m['precision']:.4f} R "
            f"{m['recall']:.4f} F1 {m['f1']:.4f} AUC {obj['test_auc']:.4f}",
            file=stream,
        )
    else:
        print(f"{obj['event']}: {obj.get('message', '')}", file=stream)
