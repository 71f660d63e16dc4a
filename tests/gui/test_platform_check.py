"""First launch: when Qt cannot open a window, bhb-viewer says why and exits 1 instead of aborting.

Runs on a machine without a display (CI): the app is started in a subprocess with the xcb
platform and no DISPLAY, or with a stand-in ``ldd`` on PATH that reports the libraries missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bhb_viewer.gui import platform_check
from bhb_viewer.gui.platform_check import missing_libraries, platform_problem, requested_platforms, startup_problem

REPO = Path(__file__).resolve().parents[2]
LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffc8a5f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0a1c000000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0a1bf00000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a1bc00000)
"""
LDD_FINE = "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x1)\n"
LINUX = "linux"


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "platforms"
    folder.mkdir()
    for name in ("libqxcb.so", "libqwayland.so"):
        (folder / name).write_bytes(b"\x7fELF")
    return folder


def run_viewer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**env, "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])}
    code = "import sys; from bhb_viewer.gui.app import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}


def test_no_display_is_said_and_the_app_exits_1_not_134(tmp_path: Path) -> None:
    result = run_viewer({**base_env(), "QT_QPA_PLATFORM": "xcb"}, "--demo", "--data-dir", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "No display" in result.stderr
    assert "DISPLAY" in result.stderr and "xvfb" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the ldd check runs on Linux only")
def test_missing_libraries_are_named_with_their_packages_through_the_app(tmp_path: Path) -> None:
    """A stand-in ldd on PATH reports what a fresh Debian machine lacked; the app names it and exits 1."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ldd"
    fake.write_text("#!/bin/sh\ncat <<'EOF'\n" + LDD_MISSING + "EOF\n")
    fake.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    env = {**base_env(), "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0", "PATH": path}
    result = run_viewer(env, "--demo", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1, result.stderr
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in result.stderr
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in result.stderr
    assert "libxcb-cursor0" not in result.stderr  # found: not blamed, unlike Qt's own message


def test_missing_libraries_parsed_once_each_in_order() -> None:
    assert missing_libraries(LDD_MISSING) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert missing_libraries(LDD_FINE) == []


def test_unknown_library_gets_a_search_hint(plugins: Path) -> None:
    text = platform_problem({"DISPLAY": ":0"}, plugins, ldd=lambda _p: "\tlibfoo.so.9 => not found\n", system=LINUX)
    assert "libfoo.so.9" in text and "apt-file search" in text


@pytest.mark.parametrize("platform", ["offscreen", "minimal", "vnc:size=800x600"])
def test_headless_platforms_are_not_checked(platform: str, plugins: Path) -> None:
    assert platform_problem({"QT_QPA_PLATFORM": platform}, plugins, ldd=lambda _p: LDD_MISSING, system=LINUX) is None


def test_a_loadable_plugin_with_a_display_passes(plugins: Path) -> None:
    assert platform_problem({"DISPLAY": ":0"}, plugins, ldd=lambda _p: LDD_FINE, system=LINUX) is None


def test_without_ldd_qt_is_left_to_try(plugins: Path) -> None:
    assert platform_problem({"DISPLAY": ":0"}, plugins, ldd=lambda _p: None, system=LINUX) is None


def test_other_systems_are_not_checked(plugins: Path) -> None:
    assert platform_problem({}, plugins, ldd=lambda _p: LDD_MISSING, system="darwin") is None


def test_wayland_session_falls_back_to_xcb(plugins: Path) -> None:
    env = {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}
    assert requested_platforms(env) == ["wayland", "xcb"]

    def ldd(path: Path) -> str:
        return LDD_MISSING if path.name == "libqxcb.so" else LDD_FINE

    assert platform_problem(env, plugins, ldd=ldd, system=LINUX) is None  # wayland loads
    broken = platform_problem(env, plugins, ldd=lambda _p: LDD_MISSING, system=LINUX)
    assert "wayland (libqwayland.so)" in broken and "xcb (libqxcb.so)" in broken


def test_screenshot_without_display_renders_offscreen(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(platform_check.sys, "platform", LINUX)
    assert startup_problem(screenshot=True) is None
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"


@pytest.mark.skipif(shutil.which("ldd") is None or platform_check.plugin_dir() is None, reason="needs ldd and PySide6")
def test_real_plugin_is_found_and_ldd_answers() -> None:
    plugin = platform_check.plugin_dir() / "libqxcb.so"
    if not plugin.exists():
        pytest.skip("this PySide6 has no xcb plugin")
    output = platform_check.run_ldd(plugin)
    assert output is not None and "libQt6" in output
