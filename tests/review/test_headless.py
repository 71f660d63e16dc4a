"""The review package runs without Qt or torch; both programs take --log-level."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_importing_the_review_loads_neither_qt_nor_torch():
    code = ("import sys, bhb_viewer.review; "
            "print(sorted(m for m in ('PySide6', 'pyqtgraph', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bhb_takes_a_log_level(capsys):
    from bhb_viewer.cli import main

    assert main(["--log-level", "debug", "models"]) == 0
    with pytest.raises(SystemExit):
        main(["--log-level", "chatty", "models"])
    assert "invalid choice: 'chatty'" in capsys.readouterr().err


def test_bhb_viewer_takes_a_log_level_before_qt():
    from bhb_viewer.gui.app import build_parser

    assert build_parser().parse_args(["--log-level", "info", "--demo"]).log_level == "info"
    assert build_parser().parse_args([]).log_level == "warning"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--log-level", "loud"])
