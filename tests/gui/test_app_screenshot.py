"""``bhb-viewer --screenshot`` with a chosen star, overlays and size (the user guide's pictures)."""

from __future__ import annotations

import argparse

import pytest
from PySide6.QtGui import QImage

from bhb_viewer.gui.app import OVERLAYS, build_parser, launch, overlay_names


def test_overlay_names_parse_before_qt():
    assert overlay_names("lines, Overlay") == ("lines", "overlay")
    assert overlay_names("none") == ()
    assert overlay_names("all") == tuple(OVERLAYS)
    with pytest.raises(argparse.ArgumentTypeError, match="unknown overlay glow"):
        overlay_names("lines,glow")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--demo", "--overlay", "glow"])
    args = build_parser().parse_args(["--demo", "--size", "900x600", "--star", "x"])
    assert args.screenshot_size == (900, 600) and args.star == "x" and args.overlay is None


def test_screenshot_of_a_chosen_star_with_chosen_overlays(qtbot, tiny_dataset, tmp_path):
    out = tmp_path / "star.png"
    args = build_parser().parse_args([str(tiny_dataset), "--screenshot", str(out), "--data-dir", str(tmp_path / "ud"),
                                      "--star", "star003", "--overlay", "lines,target", "--size", "1300x820"])
    saved: list[bool] = []
    win = launch(args, saved.append)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: saved == [True], timeout=30000)
    assert win.verdict_panel.id_label.text() == "star003"
    on = {name for name, (widget, box) in OVERLAYS.items() if getattr(getattr(win, widget), box).isChecked()}
    assert on == {"lines", "target"}
    win.close()
    image = QImage(str(out))
    assert image.height() == 820 and image.width() >= 1300  # the window may not shrink below its minimum width
