"""Where the app keeps its files.  Every directory can be redirected (tests, portable use)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

from engine.settings import current_settings

APP_NAME = "facenet-desktop"


def data_dir() -> Path:
    """The user's library: database, model versions.  Env FACENET_DATA_DIR overrides."""
    override = current_settings().data_dir
    return override or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Derived files that can always be rebuilt.  Env FACENET_CACHE_DIR overrides."""
    override = current_settings().cache_dir
    return override or Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
