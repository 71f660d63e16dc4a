"""Render the user guide's screenshots with the app itself (``bhb-viewer --screenshot``), offscreen.

Usage::

    QT_QPA_PLATFORM=offscreen python scripts/guide_screenshots.py [--out docs/guide/_static] [--only NAME ...]

Each picture is one ``bhb-viewer`` run on the built-in demo set (scored by the shipped model) with a
chosen star, overlays and window size, in a fresh, throw-away data folder, so no verdict or window
setting of the person running it shows. The list is :data:`SHOTS`; the guide's pages refer to the
files by these names (``tests/test_guide.py`` checks that every picture they show exists).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "guide" / "_static"

# file name -> bhb-viewer arguments (besides --screenshot and --data-dir)
SHOTS: dict[str, list[str]] = {
    # the window as it opens: no list yet, the start page
    "start-page.png": ["--size", "1100x700"],
    # the demo as it opens, the first candidate, every overlay as the window starts
    "window-demo.png": ["--demo", "--size", "1400x860"],
    # a BHB star (P 0.99): the segments the model weighs, measured occlusion on the cutouts
    "star-bhb.png": ["--demo", "--star", "sim-2026-000001", "--overlay", "lines,segments,target,overlay",
                     "--size", "1400x860"],
    # a blue straggler (P 0.01): the same overlays, for comparison
    "star-bss.png": ["--demo", "--star", "sim-2026-000012", "--overlay", "lines,segments,target,overlay",
                     "--size", "1400x860"],
    # the spectrum alone with its errors and the model's saliency, no shading
    "star-saliency.png": ["--demo", "--star", "sim-2026-000003", "--overlay", "lines,errors,saliency,target",
                          "--size", "1400x860"],
}


def render(name: str, args: list[str], out: Path, python: str = sys.executable) -> float:
    """Run ``bhb-viewer`` once for picture ``name``; return the seconds it took."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as data_dir:
        cmd = [python, "-m", "bhb_viewer.gui.app", *args, "--screenshot", str(out / name), "--data-dir", data_dir,
               "--reviewer", "guide"]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs (default docs/guide/_static)")
    ap.add_argument("--only", nargs="+", choices=sorted(SHOTS), help="render only these pictures")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or SHOTS:
        seconds = render(name, SHOTS[name], args.out)
        size = (args.out / name).stat().st_size
        print(f"{name}: {size / 1024:.0f} KB in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
