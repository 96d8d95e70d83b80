"""Say in plain words why the window cannot open, before Qt aborts the process.

Qt ends the process with SIGABRT when its platform plugin cannot load, and its message blames
`xcb-cursor0` whatever is missing (on a minimal Debian it was libxcb-icccm4 and
libxcb-keysyms1, while libxcb-cursor0 was installed).  pip cannot install these system
libraries, so the app checks for them first and names the missing ones with the command that
installs them.  Nothing here imports Qt: the check must run before any Qt code can abort.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# The system libraries PySide6's X11 plugin (libqxcb.so and libQt6XcbQpa.so.6) links to,
# with the Debian/Ubuntu package of each.
X11_LIBRARIES = {
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libglib-2.0.so.0": "libglib2.0-0",
}

_MISSING_LIBRARY = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")


def display_problem(environ: Mapping[str, str], plugin: Path | None = None) -> str | None:
    """Why Qt will not be able to open a window in this session (engine.settings.
    session_environment), or None when it should."""
    if not sys.platform.startswith("linux"):
        return None
    wanted = [entry.split(":")[0] for entry in environ.get("QT_QPA_PLATFORM", "").split(";") if entry]
    if wanted and wanted != ["xcb"]:
        return None  # offscreen, wayland, or a list Qt can fall back along
    if not wanted and environ.get("WAYLAND_DISPLAY"):
        return None  # Qt tries Wayland first in a Wayland session
    if not environ.get("DISPLAY"):
        return ("FaceNet Desktop needs a desktop session to open its window, and none was found\n"
                "(DISPLAY is not set). Start it from your desktop, or over SSH use `ssh -X`.\n"
                "The `facenet` command works without a window.")
    plugin = plugin or _xcb_plugin()
    if plugin is None or not plugin.exists():
        return None  # not a PySide6 layout we know: let Qt speak for itself
    error = _load_error(plugin)  # loaded once: Qt finds it loaded
    missing = _missing_after(error)
    if not missing:
        if error is None:
            return None
        return ("FaceNet Desktop cannot open its window: the X11 plugin of its window toolkit (Qt)\n"
                f"did not load ({error}).\n"
                "Installing the app again may help: pip install --force-reinstall PySide6")
    packages = " ".join(X11_LIBRARIES.get(name, name) for name in missing)
    return ("FaceNet Desktop cannot open its window.\n"
            "Libraries that its window toolkit (Qt) needs are missing from this system:\n"
            f"    {', '.join(missing)}\n"
            "On Debian or Ubuntu, install them with:\n"
            f"    sudo apt install {packages}\n"
            "Elsewhere, install the packages that provide these files.\n"
            "Then start FaceNet Desktop again.")


def missing_x11_libraries(plugin: Path) -> list[str]:
    """The system libraries that keep Qt's X11 plugin from loading or Qt from using it;
    empty when none is missing (the plugin may still fail for another reason)."""
    return _missing_after(_load_error(plugin))


def _missing_after(plugin_error: str | None) -> list[str]:
    if plugin_error is None:  # Qt 6.5+ refuses to run without xcb-cursor even where the plugin loaded
        return [] if _loads("libxcb-cursor.so.0") else ["libxcb-cursor.so.0"]
    named = _MISSING_LIBRARY.search(plugin_error)
    if named is None:  # damaged, not missing anything: whatever the system lacks is not why
        return []
    # The loader names the first library it misses: the others are found by trying each.
    missing = [name for name in X11_LIBRARIES if not _loads(name)]
    if named.group(1) not in missing:
        missing.append(named.group(1))
    return missing


def tell_without_qt(message: str, environ: Mapping[str, str]) -> bool:
    """Show the message in a dialog of the desktop's own (zenity, kdialog or xmessage), for
    a user who started the app by double-clicking and sees no terminal.  True when shown."""
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return False
    for tool, arguments in (("zenity", ["--error", "--no-markup", "--title=FaceNet Desktop", f"--text={message}"]),
                            ("kdialog", ["--title", "FaceNet Desktop", "--error", message]),
                            ("xmessage", ["-center", message])):
        found = shutil.which(tool, path=environ.get("PATH"))
        if found:
            try:
                subprocess.run([found, *arguments], check=False, timeout=3600)
            except (OSError, subprocess.TimeoutExpired):
                continue
            return True
    return False


def _loads(library: str) -> bool:
    return _load_error(library) is None


def _load_error(library: str | Path) -> str | None:
    """Why the dynamic loader refuses the library, or None when it loads."""
    try:
        ctypes.CDLL(str(library), mode=os.RTLD_LAZY | os.RTLD_LOCAL)
    except OSError as exc:
        return str(exc)
    return None


def _xcb_plugin() -> Path | None:
    try:
        import PySide6  # for its folder; only creating the application can abort
    except ImportError:
        return None
    return Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
