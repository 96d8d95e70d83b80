"""The desktop entry points open a window (the full GUI arrives with its own issue)."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from facenet_desktop.app import WINDOW_TITLE, MainWindow  # noqa: E402
from facenet_desktop.resources import RESOURCES_DIR, icon_path  # noqa: E402


def test_main_window_shows_library_location(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == WINDOW_TITLE
    assert os.environ["FACENET_DATA_DIR"] in window.message.text()


def test_desktop_entry_and_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(RESOURCES_DIR / "facenet-desktop.desktop")
    section = entry["Desktop Entry"]
    assert section["Exec"] == "facenet-desktop" and section["Type"] == "Application"
    assert Path(icon_path()).read_text().startswith("<svg")
