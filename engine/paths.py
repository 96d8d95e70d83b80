"""Where the app keeps its files.  Every directory can be redirected (tests, portable use)."""

from __future__ import annotations

import os
import tempfile

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
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


TEMPORARY_NAME_CHARS = 120  # of the target's name in its temporary's: a 255-byte name leaves no room


def temporary_prefix(path: Path) -> str:
    """The start of the name of `path`'s temporary files (mkstemp adds 8 characters and .tmp)."""
    return f".{path.name[:TEMPORARY_NAME_CHARS]}."


def hold_lock(fd: int, shared: bool = False) -> None:
    """An advisory lock on an open file, held until it is closed (where the platform has them)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)


def remove_if_unheld(path: Path) -> bool:
    """Delete a file nobody holds a lock on (see hold_lock): a leftover of a killed process."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a live process holds it
        path.unlink()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        hold_lock(fd)  # a cleaner of orphans (a killed writer's) leaves a live writer's file alone
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
