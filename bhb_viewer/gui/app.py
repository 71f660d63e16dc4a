"""Entry point of ``bhb-viewer``: parse arguments before Qt is imported, then open the window."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bhb-viewer", description="Vet BHB star candidates")
    p.add_argument("catalog", nargs="?", help="catalog, data set or session file to open")
    p.add_argument("--model", help="checkpoint directory used for scoring")
    p.add_argument("--demo", action="store_true", help="open the built-in demo set")
    p.add_argument("--screenshot", metavar="PNG", help="render the window to PNG after loading, then exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv[:1])
    label = QLabel("bhb_viewer: the review window is being built")
    label.resize(1280, 800)
    label.show()
    if args.screenshot:
        app.processEvents()
        label.grab().save(args.screenshot)
        return 0
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
