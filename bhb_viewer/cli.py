"""The ``bhb`` command line. Sub-commands live in ``bhb_viewer.commands.<name>``; each module exposes
``add_arguments(parser)`` and ``run(args) -> int`` and imports heavy packages (torch) inside ``run``
so that ``bhb --help`` stays instant and argument errors come before any heavy import.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bhb_viewer import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("bhb_viewer.commands.inspect", "print what the core reads from catalog, spectrum or cutout files"),
    "simulate": ("bhb_viewer.commands.simulate",
                 "write a simulated, labelled data set; --report prints its calibration"),
    "dataset": ("bhb_viewer.commands.dataset", "build a data set from files on disk or from SDSS"),
    "models": ("bhb_viewer.commands.models", "list the model registry"),
    "train": ("bhb_viewer.commands.train", "train a model on a data set"),
    "evaluate": ("bhb_viewer.commands.evaluate", "train and evaluate models over seeds; print the Table 8 layout"),
    "score": ("bhb_viewer.commands.score", "score a catalog or data set with a checkpoint"),
    "explain": ("bhb_viewer.commands.explain",
                "measured importance (bands, segments) and deletion-curve faithfulness for N stars, as JSON"),
    "describe-sky": ("bhb_viewer.commands.describe_sky",
                     "record a checkpoint's training sky (ranges, embedding statistics) for the trust flags"),
    "sessions": ("bhb_viewer.commands.sessions", "sessions without the app: new, import, show, merge, audit, export"),
}


LOG_LEVELS = ("debug", "info", "warning", "error")


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """``--log-level``, shared by ``bhb`` and ``bhb-viewer``."""
    parser.add_argument("--log-level", default="warning", choices=LOG_LEVELS,
                        help="how much the program logs on stderr (default: warning)")


def configure_logging(level: str) -> None:
    """Send the package's log records at ``level`` and above to stderr, one line each."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bhb", description="bhb_viewer headless tools")
    parser.add_argument("--version", action="version", version=f"bhb_viewer {__version__}")
    add_log_level(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    from bhb_viewer.core.errors import BadInputError

    try:
        return int(args._run(args) or 0)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
