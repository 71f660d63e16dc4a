"""Entry point of ``bhb-viewer``: parse arguments before Qt is imported, then open the window.

Parsing first means ``bhb-viewer --help`` and argument errors are instant and need no display.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from bhb_viewer.cli import add_log_level, configure_logging
from bhb_viewer.review.runner import error_message

log = logging.getLogger(__name__)

SCREENSHOT_SIZE = (1280, 800)
SCREENSHOT_TIMEOUT_MS = 300_000  # a screenshot run gives up waiting for scoring after this long
# --overlay NAME,...: the window's overlay switches, by name -> (widget attribute, check box attribute)
OVERLAYS: dict[str, tuple[str, str]] = {
    "lines": ("spectrum_plot", "show_lines"),
    "errors": ("spectrum_plot", "show_errors"),
    "segments": ("spectrum_plot", "show_segments"),
    "saliency": ("spectrum_plot", "show_saliency"),
    "means": ("spectrum_plot", "show_references"),
    "target": ("cutout_panel", "show_target"),
    "overlay": ("cutout_panel", "show_overlay"),  # the cutout overlay: measured occlusion, or the model's attention
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bhb-viewer", description="Vet BHB star candidates")
    p.add_argument("catalog", nargs="?", help="catalog, data set or session file to open")
    p.add_argument("--model", help="checkpoint directory used for scoring (it becomes the active model)")
    p.add_argument("--demo", action="store_true", help="open the built-in demo set")
    p.add_argument("--screenshot", metavar="PNG",
                   help="render the window to PNG after loading (and scoring), then exit")
    p.add_argument("--screenshot-size", "--size", metavar="WxH", type=window_size, default=SCREENSHOT_SIZE,
                   help="window size for --screenshot (default 1280x800)")
    p.add_argument("--star", metavar="ID", help="show the candidate with this id (after loading)")
    p.add_argument("--overlay", metavar="NAME,...", type=overlay_names,
                   help="switch on exactly these overlays, the others off: "
                        f"{', '.join(OVERLAYS)}; 'none' or 'all' (default: as the window starts)")
    p.add_argument("--device", default="auto", help="where the model runs: auto (GPU when present), cpu, cuda")
    p.add_argument("--reviewer", help="name recorded with every verdict (default: the login name)")
    p.add_argument("--data-dir", help="where recent sessions and sessions of read-only catalogs are kept")
    add_log_level(p)
    return p


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("bhb_viewer", appauthor=False))


def window_size(text: str) -> tuple[int, int]:
    """'1920x1080' → (1920, 1080), for ``--screenshot-size``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1920x1080, not {text!r}") from None
    if width < 200 or height < 200:
        raise argparse.ArgumentTypeError(f"{text}: a window needs at least 200x200 pixels")
    return width, height


def overlay_names(text: str) -> tuple[str, ...]:
    """'lines,attention' → ('lines', 'attention'), for ``--overlay``; 'none' → (), 'all' → every overlay."""
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if names == ("none",):
        return ()
    if names == ("all",):
        return tuple(OVERLAYS)
    unknown = [n for n in names if n not in OVERLAYS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown overlay {', '.join(unknown)}; choose from "
                                         f"{', '.join(OVERLAYS)}, or none, or all")
    return names


def set_overlays(window, names: tuple[str, ...]) -> None:
    """Switch on the overlays ``names`` in ``window`` and every other one off."""
    for name, (widget, box) in OVERLAYS.items():
        getattr(getattr(window, widget), box).setChecked(name in names)


def shipped_model() -> Path | None:
    """The checkpoint shipped with the app (models/batmm-lite-sim), or None where it is not installed."""
    from bhb_viewer.core.errors import BadInputError
    from bhb_viewer.review.candidate_source import DEMO_MODEL, find_resource

    try:
        return find_resource(DEMO_MODEL)
    except BadInputError:
        return None


def save_screenshot(window, path: str | os.PathLike, size: tuple[int, int] = SCREENSHOT_SIZE) -> bool:
    """Render the whole window at ``size`` (1280×800 by default) into a PNG."""
    window.resize(*size)
    return window.grab().save(str(path), "PNG")


def show_unexpected_errors(window) -> None:
    """Make an exception that reaches Qt's event loop (a bug in a slot) a dialog over ``window``.

    PySide hands such an exception to ``sys.excepthook`` and carries on; by default that only
    prints a traceback on stderr, where a person at the window never sees it. Here it is logged
    with its traceback and said in a dialog, and the window goes on.
    """
    previous = sys.excepthook

    def hook(kind, exc, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, exc, tb)
            return
        log.error("unexpected error in the window", exc_info=(kind, exc, tb))
        window.show_error("Unexpected error", f"{error_message(exc)}\n\nThe window goes on; the log has the details.")

    sys.excepthook = hook


_COLLECTORS: list = []  # the app's GarbageCollector, kept alive with the process


def launch(args: argparse.Namespace, on_screenshot: Callable[[bool], None]):
    """Create and show the window for parsed ``args``; with ``--screenshot``, call
    ``on_screenshot(saved)`` once the window has settled (loaded, and scored if a model is set)."""
    from pyqtgraph.util.garbage_collector import GarbageCollector
    from PySide6.QtCore import QTimer

    from bhb_viewer.gui.main_window import MainWindow

    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    window = MainWindow(data_dir, reviewer=args.reviewer, device=args.device, shipped=shipped_model())
    # Reference cycles are collected on a timer in this (GUI) thread, never by a worker: a Qt object
    # freed in a worker holds a Qt mutex while it waits for the GIL, and the GUI thread can hold the
    # GIL while it waits for that mutex (a deadlock seen in the test suite).
    _COLLECTORS.append(GarbageCollector(interval=1.0))
    show_unexpected_errors(window)
    window.resize(*args.screenshot_size)
    if args.overlay is not None:
        set_overlays(window, args.overlay)
    window.show()
    star = [args.star] if args.star else []  # the candidate still to show once the list is loaded
    if star:
        def show_star() -> None:
            if star and window.review.source is not None and not window.runner.busy():
                if not window.review.browser.jump_to_id(star[0]):
                    log.error("no candidate with id %r in the list", star[0])
                star.clear()

        window.sigSettled.connect(show_star)
    if args.screenshot:
        taken: list[bool] = []

        def shoot(force: bool = False) -> None:
            if taken or (not force and (star or window.runner.busy())):
                return  # more work to come: its sigSettled calls again
            taken.append(save_screenshot(window, args.screenshot, args.screenshot_size))
            on_screenshot(taken[0])

        # let the last redraws land; a jump to --star starts the star's own work, which settles again
        window.sigSettled.connect(lambda: QTimer.singleShot(300, shoot))
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: shoot(force=True))
    model = Path(args.model) if args.model else None  # an explicit choice: it becomes the active model
    if args.demo:
        window.review.open_demo(model)
    elif args.catalog:
        window.review.open_path(Path(args.catalog), model)
    elif args.screenshot:
        QTimer.singleShot(0, window.sigSettled.emit)  # nothing to load: the start page is the picture
    return window


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.demo and args.catalog:
        build_parser().error("give either --demo or a catalog, not both")
    configure_logging(args.log_level)

    from bhb_viewer.gui.platform_check import startup_problem

    problem = startup_problem(screenshot=bool(args.screenshot))
    if problem is not None:  # Qt would abort (exit 134) with a misleading message
        print(f"bhb-viewer: {problem}", file=sys.stderr)
        return 1

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("bhb_viewer")
    status: list[int] = []

    def screenshot_done(saved: bool) -> None:
        status.append(0 if saved else 1)
        window.close()
        app.quit()

    window = launch(args, screenshot_done)
    code = app.exec()
    return status[0] if status else code


if __name__ == "__main__":
    sys.exit(main())
