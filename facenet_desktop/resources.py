"""Paths of the files in the top-level resources/ folder (icons, desktop entry)."""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"


def icon_path() -> Path:
    return RESOURCES_DIR / "facenet-desktop.svg"
