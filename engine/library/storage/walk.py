"""Find the photo files under library folders.

Recursive, without following a symbolic link into a folder already visited (loops), out of
the user's photo folders (a link to / would index the whole machine, /proc's links to every
process's folders included) or into the kernel's trees, and without hidden or system folders
(.thumbnails, @eaDir, $RECYCLE.BIN...).  One file reached through two paths (a link, a hard
link) is found once.  A folder that cannot be read is reported, not fatal: the caller must
then not forget the photos it knew there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.faces.images import PHOTO_EXTENSIONS
from engine.user_files import not_regular_reason, os_error_reason, printable_path

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


# The kernel's views of the machine: never photos, and endless (/proc/*/cwd, /dev/zero).
KERNEL_TREES = ("/proc", "/sys", "/dev")


@dataclass(frozen=True)
class FoundFile:
    path: str  # absolute
    size: int
    mtime_ns: int
    ctime_ns: int = 0  # a file replaced under the same size and time still changes this


def is_skipped_folder(name: str) -> bool:
    return name.startswith(".") or name.lower() in SYSTEM_FOLDERS


def is_inside(path: str, folders: Iterable[str]) -> bool:
    """Whether `path` is one of `folders` or below one (plain text comparison of absolute paths)."""
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def in_kernel_tree(real_path: str) -> bool:
    return os.name == "posix" and is_inside(real_path, KERNEL_TREES)


def walk_photos(
    root: str | Path,
    on_error: Callable[[str, str], None] | None = None,
    exclude: Iterable[str] = (),
    on_skip: Callable[[str, str], None] | None = None,
    inside: Iterable[str] = (),
) -> Iterator[FoundFile]:
    """Regular photo files under `root` in a stable order (sorted names, depth first),
    skipping the folders in `exclude` (absolute paths).  A link to a folder is followed only
    where it leads inside `root` or `inside` (the other photo folders); a link that leads
    out, a kernel tree, and a file with a photo's name that is a FIFO, a device or a socket
    go to `on_skip` with the reason."""
    excluded = {os.path.abspath(e) for e in exclude} | {os.path.realpath(e) for e in exclude}
    report = on_error or (lambda path, reason: None)
    skip = on_skip or report
    allowed = [os.path.realpath(f) for f in (root, *inside)]
    if in_kernel_tree(os.path.realpath(root)):
        skip(os.path.abspath(root), "skipped: a system folder of the kernel, never photos")
        return
    visited: set[tuple[int, int]] = set()
    files_seen: set[tuple[int, int]] = set()
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
                    if is_skipped_folder(entry.name) or os.path.abspath(entry.path) in excluded:
                        continue
                    reason = _folder_refused(entry, allowed)
                    if reason:
                        skip(entry.path, reason)
                    else:
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
            if (info.st_dev, info.st_ino) in files_seen:
                continue  # the same file through a link or a hard link: found once
            files_seen.add((info.st_dev, info.st_ino))
            yield FoundFile(entry.path, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        stack.extend(reversed(subfolders))


def _folder_refused(entry: os.DirEntry, allowed: list[str]) -> str | None:
    """Why a subfolder is not entered: a link that leaves the photo folders, a kernel tree."""
    real = os.path.realpath(entry.path)
    if in_kernel_tree(real):
        return "skipped: a system folder of the kernel, never photos"
    if entry.is_symlink() and not is_inside(real, allowed):
        return (f"skipped: a link to a folder outside your photo folders ({printable_path(real)}); "
                "add that folder to the library to scan it")
    return None
