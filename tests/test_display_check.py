"""The window that cannot open says why in plain words, instead of Qt aborting the process
with a message that blames the wrong library (seen on a minimal Debian: Qt named xcb-cursor0,
which was installed, while libxcb-icccm4 and libxcb-keysyms1 were missing)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facenet_desktop.display_check import X11_LIBRARIES, display_problem, missing_x11_libraries, tell_without_qt

REPO = Path(__file__).resolve().parents[1]


def _plain_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_SESSION_TYPE")}
    return {**keep, "HOME": str(tmp_path), "FACENET_DATA_DIR": str(tmp_path / "data"),
            "FACENET_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(REPO), **extra}


def test_without_a_display_the_app_says_so_and_exits_instead_of_aborting(tmp_path: Path) -> None:
    started = subprocess.run([sys.executable, "-c", "import sys; from facenet_desktop.app import main; sys.exit(main([]))"],
                             env=_plain_environment(tmp_path), capture_output=True, text=True, timeout=300)
    assert started.returncode == 1, started.stderr  # Qt's abort: -6
    assert "needs a desktop session" in started.stderr
    assert "The `facenet` command works without a window." in started.stderr
    assert "needs a desktop session" in (tmp_path / "data" / "facenet.log").read_text(encoding="utf-8")


@pytest.mark.parametrize(("environ", "problem"), [
    ({"QT_QPA_PLATFORM": "offscreen"}, False),  # the tests' own platform needs no X
    ({"WAYLAND_DISPLAY": "wayland-0"}, False),  # Qt tries Wayland first
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, False),
    ({}, True),
    ({"QT_QPA_PLATFORM": "xcb"}, True),
    ({"QT_QPA_PLATFORM": "xcb:nograb"}, True),
])
def test_only_a_missing_x_display_is_a_problem_without_libraries_to_check(environ: dict, problem: bool) -> None:
    said = display_problem(environ, plugin=Path("/nonexistent/libqxcb.so"))
    assert (said is not None) == problem
    if problem:
        assert "DISPLAY is not set" in said


@pytest.fixture
def plugin_needing_an_absent_library(tmp_path: Path) -> Path:
    """A shared library shaped like Qt's plugin, linked to a library that no longer exists."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build a plugin with a missing dependency")
    (tmp_path / "absent.c").write_text("int facenet_absent(void) { return 3; }\n")
    (tmp_path / "plugin.c").write_text("int facenet_absent(void);\nint plugin(void) { return facenet_absent(); }\n")
    absent = tmp_path / "libfacenet-absent.so.3"
    subprocess.run([compiler, "-shared", "-fPIC", "-Wl,-soname,libfacenet-absent.so.3", "-o", str(absent),
                    str(tmp_path / "absent.c")], check=True)
    (tmp_path / "libfacenet-absent.so").symlink_to(absent.name)
    plugin = tmp_path / "libqxcb.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "plugin.c"),
                    f"-L{tmp_path}", "-lfacenet-absent"], check=True)
    absent.unlink()
    (tmp_path / "libfacenet-absent.so").unlink()
    return plugin


def test_a_plugin_that_cannot_load_names_the_missing_library_and_the_install_command(
        plugin_needing_an_absent_library: Path) -> None:
    missing = missing_x11_libraries(plugin_needing_an_absent_library)
    assert "libfacenet-absent.so.3" in missing
    said = display_problem({"DISPLAY": ":0"}, plugin=plugin_needing_an_absent_library)
    assert said.startswith("FaceNet Desktop cannot open its window.")
    assert "libfacenet-absent.so.3" in said
    assert "sudo apt install " in said
    assert all(len(line) <= 80 for line in said.splitlines())  # xmessage does not wrap


def test_a_damaged_plugin_is_said_without_an_install_command_that_would_not_help(tmp_path: Path) -> None:
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"not a shared library")
    said = display_problem({"DISPLAY": ":0"}, plugin=plugin)
    assert said.startswith("FaceNet Desktop cannot open its window: the X11 plugin")
    assert "did not load" in said and "sudo apt" not in said


def test_the_package_table_matches_the_system_package_manager() -> None:
    if shutil.which("dpkg") is None:
        pytest.skip("no dpkg here to compare the Debian package names with")
    compared = 0
    for soname, package in X11_LIBRARIES.items():
        owner = subprocess.run(["dpkg", "-S", f"*/{soname}"], capture_output=True, text=True)
        if owner.returncode != 0:
            continue  # not installed here
        owners = {line.split(":")[0] for line in owner.stdout.splitlines()}
        assert package in owners, (soname, owners)
        compared += 1
    assert compared >= 10


def test_the_table_covers_the_system_libraries_qts_x11_plugin_links_to() -> None:
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    binaries = [qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))[:1]]
    if shutil.which("objdump") is None or not binaries[0].exists():
        pytest.skip("objdump or PySide6's X11 plugin not available")
    needed = set()
    for binary in binaries:
        dump = subprocess.run(["objdump", "-p", str(binary)], capture_output=True, text=True, check=True).stdout
        needed |= set(re.findall(r"NEEDED\s+(\S+)", dump))
    system_x11 = {name for name in needed if re.match(r"lib(X11|xcb|xkbcommon|GL\.|glib)", name)}
    assert system_x11 and system_x11 <= set(X11_LIBRARIES), system_x11 - set(X11_LIBRARIES)


def test_a_user_who_double_clicked_sees_the_message_in_a_desktop_dialog(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    shown = tmp_path / "shown.txt"
    (tools / "zenity").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{shown}"\n')
    (tools / "zenity").chmod(0o755)
    message = "FaceNet Desktop cannot open its window.\nLine two"
    assert tell_without_qt(message, {"DISPLAY": ":0", "PATH": str(tools)})
    assert "--text=" + message in shown.read_text()
    shown.unlink()
    assert not tell_without_qt(message, {"PATH": str(tools)})  # no display to show it on
    assert not shown.exists()
