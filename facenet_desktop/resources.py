"""Where the app's icon and desktop entry are: resources/ in a source checkout (an editable
install), <prefix>/share/... in an installed wheel (pyproject.toml's data-files)."""

from __future__ import annotations

import sys
from pathlib import Path

WINDOW_TITLE = "FaceNet Desktop"
RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"
ICON_NAME = "facenet-desktop.svg"
INSTALLED_ICON = Path("share") / "icons" / "hicolor" / "scalable" / "apps" / ICON_NAME


def icon_path() -> Path:
    """The icon file; the checkout's first, then the installed one (None of them: the checkout path)."""
    for candidate in (RESOURCES_DIR / ICON_NAME, Path(sys.prefix) / INSTALLED_ICON):
        if candidate.is_file():
            return candidate
    return RESOURCES_DIR / ICON_NAME
