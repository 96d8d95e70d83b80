"""Find the photo files under library folders.

Recursive, without following a symbolic link into a folder already visited (loops), and
without hidden or system folders (.thumbnails, @eaDir, $RECYCLE.BIN...).  A folder that
cannot be read is reported, not fatal: the caller must then not forget the photos it knew
there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.faces.images import PHOTO_EXTENSIONS
from engine.user_files import not_regular_reason, os_error_reason

SYSTEM_FOLDERS = frozenset(
    {
        "@eadir",  # Synology thumbnails
        "#recycle",
        "$recycle.bin",
        "system volume information",
        "lost+found",
        "__macosx",
        "thumbs",
        ".thumbnails",
    }
)


@dataclass(frozen=True)
class FoundFile:
    path: str  # absolute
    size: int
    mtime_ns: int


def is_skipped_folder(name: str) -> bool:
    return name.startswith(".") or name.lower() in SYSTEM_FOLDERS


def walk_photos(
    root: str | Path,
    on_error: Callable[[str, str], None] | None = None,
    exclude: Iterable[str] = (),
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[FoundFile]:
    """Regular photo files under `root` (links followed) in a stable order (sorted names,
    depth first), skipping the folders in `exclude` (absolute paths).  A file with a photo's
    name that is a FIFO, a device or a socket goes to `on_skip` with the reason."""
    excluded = {os.path.abspath(e) for e in exclude}
    report = on_error or (lambda path, reason: None)
    skip = on_skip or report
    visited: set[tuple[int, int]] = set()
    stack = [os.path.abspath(root)]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError as exc:
            report(folder, exc.strerror or str(exc))
            continue
        key = (info.st_dev, info.st_ino)
        if key in visited:
            continue
        visited.add(key)
        try:
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            report(folder, exc.strerror or str(exc))
            continue
        subfolders = []
        for entry in listing:
            try:
                if entry.is_dir():  # follows links; the visited set stops loops
                    if not is_skipped_folder(entry.name) and os.path.abspath(entry.path) not in excluded:
                        subfolders.append(entry.path)
                    continue
                if entry.name.startswith(".") or os.path.splitext(entry.name)[1].lower() not in PHOTO_EXTENSIONS:
                    continue
                info = entry.stat()  # follows links: a link to /dev/zero is a device
            except OSError as exc:  # vanished, unreadable or a link loop
                skip(entry.path, os_error_reason(exc))
                continue
            reason = not_regular_reason(info.st_mode)
            if reason is not None:
                skip(entry.path, reason)
                continue
            yield FoundFile(entry.path, info.st_size, info.st_mtime_ns)
        stack.extend(reversed(subfolders))
