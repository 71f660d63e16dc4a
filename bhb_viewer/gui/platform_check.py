"""Can Qt open a window here? Answered before QApplication exists, without importing Qt.

When Qt's platform plugin cannot load, Qt aborts the process (exit 134) with a message that
names the wrong library: on a Debian machine with a display its text blames ``libxcb-cursor0``
while the libraries actually missing were ``libxcb-icccm4`` and ``libxcb-keysyms1``. This module
asks the dynamic linker (``ldd``) about the plugin of the installed PySide6, so the app can name
the missing libraries and their Debian packages and exit with a message instead. It also says so
when there is no display at all. Only Linux is checked: macOS and Windows wheels carry their own
platform libraries.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

# Platform plugins that draw without a display server: nothing to check for them.
HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "minimalegl", "vnc", "linuxfb", "eglfs", "vkkhrdisplay"})
DISPLAY_VARIABLE = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}
PLUGIN_FILE = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}
LDD_TIMEOUT_S = 10.0
# Shared-object name → the Debian/Ubuntu package that ships it (what the xcb and wayland plugins of
# Qt 6 link against, directly or through libQt6Gui / libQt6XcbQpa).
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)

LddFn = Callable[[Path], str | None]


def run_ldd(path: Path) -> str | None:
    """``ldd path`` output, or None when ldd is missing or fails (then nothing can be said)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=LDD_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("ldd %s failed: %s", path, exc)
        return None
    return done.stdout


def missing_libraries(ldd_output: str) -> list[str]:
    """The shared objects ldd reported as ``not found``, each once, in its order."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def plugin_dir() -> Path | None:
    """``Qt/plugins/platforms`` of the installed PySide6, found without importing it."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"


def requested_platforms(env: Mapping[str, str]) -> list[str]:
    """The platform plugins Qt will try, in order: ``QT_QPA_PLATFORM`` (``;``-separated, options after
    ``:``), else Wayland then xcb in a Wayland session, else xcb."""
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return [name.split(":", 1)[0].strip().lower() for name in chosen.split(";") if name.strip()]
    return ["wayland", "xcb"] if env.get("WAYLAND_DISPLAY") else ["xcb"]


def install_hint(libraries: list[str]) -> str:
    """The install command for ``libraries`` (shared-object names), by their Debian packages."""
    packages = list(dict.fromkeys(DEBIAN_PACKAGES[lib] for lib in libraries if lib in DEBIAN_PACKAGES))
    unknown = [lib for lib in libraries if lib not in DEBIAN_PACKAGES]
    lines = []
    if packages:
        lines.append(f"  Debian/Ubuntu: sudo apt-get install {' '.join(packages)}")
    if unknown:
        lines.append(f"  (find the package of {', '.join(unknown)} with: apt-file search NAME / dnf provides '*/NAME')")
    return "\n".join(lines)


def platform_problem(
    env: Mapping[str, str] | None = None,
    plugins: Path | None = None,
    ldd: LddFn = run_ldd,
    system: str = sys.platform,
) -> str | None:
    """Why Qt cannot open a window here, as a message for a person; None when it should work
    (or when it cannot be told, e.g. no ldd): then Qt is left to try."""
    env = os.environ if env is None else env
    if not system.startswith("linux"):
        return None
    platforms = requested_platforms(env)
    if any(name in HEADLESS_PLATFORMS for name in platforms):
        return None
    shown = [name for name in platforms if name in DISPLAY_VARIABLE and env.get(DISPLAY_VARIABLE[name])]
    if not shown:
        wanted = " or ".join(f"{DISPLAY_VARIABLE[n]} ({n})" for n in platforms if n in DISPLAY_VARIABLE) or "a display"
        return (
            f"No display: {wanted} is not set, so no window can open.\n"
            "  On a machine without a screen run the viewer under a virtual one: xvfb-run bhb-viewer --demo\n"
            "  (Debian/Ubuntu: sudo apt-get install xvfb), or render a picture with\n"
            "  QT_QPA_PLATFORM=offscreen bhb-viewer --demo --screenshot out.png.\n"
            "  Over ssh, connect with ssh -X (or -Y)."
        )
    plugins = plugin_dir() if plugins is None else plugins
    problems = []
    for name in shown:
        plugin = plugins / PLUGIN_FILE[name] if plugins is not None else None
        if plugin is None or not plugin.exists():
            return None  # a PySide6 laid out differently: let Qt try and report
        output = ldd(plugin)
        if output is None:
            return None
        missing = missing_libraries(output)
        if not missing:
            return None  # this one loads: Qt will use it
        problems.append((name, plugin, missing))
    lines = ["Qt cannot load its platform plugin, so no window can open. Libraries missing:"]
    every = []
    for name, plugin, missing in problems:
        lines.append(f"  {name} ({plugin.name}): {', '.join(missing)}")
        every.extend(missing)
    lines.append("Install them, then start again:")
    lines.append(install_hint(list(dict.fromkeys(every))))
    lines.append("(found with: ldd " + " ".join(str(p) for _, p, _ in problems) + ")")
    return "\n".join(lines)


def use_offscreen_for_screenshot(env: dict[str, str] | os._Environ = os.environ) -> bool:
    """With ``--screenshot`` and no display and no platform chosen, draw offscreen: the picture needs
    no screen. Returns whether the platform was switched."""
    chosen_or_shown = any(env.get(name) for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"))
    if chosen_or_shown or not sys.platform.startswith("linux"):
        return False
    env["QT_QPA_PLATFORM"] = "offscreen"
    log.info("no display: rendering the screenshot offscreen")
    return True


def startup_problem(screenshot: bool = False) -> str | None:
    """What ``bhb-viewer`` checks before making its QApplication: with ``screenshot`` and no display it
    switches to offscreen drawing; otherwise the :func:`platform_problem` message, or None."""
    if screenshot:
        use_offscreen_for_screenshot()
    return platform_problem()
