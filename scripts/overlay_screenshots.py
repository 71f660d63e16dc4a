"""Render the review window offscreen on the demo set for two stars and save the PNGs (issue 21's pair).

Usage::

    QT_QPA_PLATFORM=offscreen python scripts/overlay_screenshots.py [BHB_ID] [OTHER_ID] [--out docs/results]

Defaults: sim-2026-000001 (a BHB star, P 0.99) and sim-2026-000012 (a blue straggler, P 0.01);
writes overlays-bhb.png and overlays-bss.png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bhb", nargs="?", default="sim-2026-000001")
    ap.add_argument("other", nargs="?", default="sim-2026-000012")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = ap.parse_args(argv)
    import shutil

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from bhb_viewer.gui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        shutil.copytree(ROOT / "bhb_viewer" / "resources" / "demo", demo)  # opening a list writes its session beside it
        window = MainWindow(Path(tmp) / "user", reviewer="screenshots")
        window.resize(1400, 900)
        window.show()
        window.review.open_path(demo, ROOT / "models" / "batmm-lite-sim")

        def pump(seconds: float) -> None:
            end = time.time() + seconds
            while time.time() < end:
                app.processEvents()
                time.sleep(0.03)

        pump(15)
        for cid, name in ((args.bhb, "bhb"), (args.other, "bss")):
            window.review.browser.jump_to_id(cid)
            pump(12)  # scores, the Balmer fit, the explanation with its measured importance
            window.grab().save(str(args.out / f"overlays-{name}.png"))
            print(name, cid, window.cutout_panel.bars.texts)
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
