"""Opening files from a user's disk, which may be anything that has a photo's name.

A FIFO called `photo.jpg` blocks `open()` forever; a `.jpg` link to `/dev/zero` reads
forever; a file in /proc claims size 0 and yields data.  So: follow links, open without
blocking, accept only regular files, and never read more than the size seen when opened
(plus a small margin for a file that is being finished).  Anything else becomes an
`ImageLoadError` with a reason a person understands.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
from pathlib import Path

from engine.errors import ImageLoadError

GROWTH_MARGIN = 1 << 16  # bytes a file may grow while we read it before we call it unstable

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def file_kind(mode: int) -> str:
    """'a named pipe (FIFO)', 'a character device'... for a stat mode that is not a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def not_regular_reason(mode: int) -> str | None:
    """Why a file with this (link-followed) stat mode is not read as a photo; None if it is."""
    if stat.S_ISREG(mode):
        return None
    return f"skipped: {file_kind(mode)}, not a photo file"


def os_error_reason(exc: OSError) -> str:
    """An OSError in a person's words."""
    if exc.errno == errno.ELOOP:
        return "a link that leads back to itself (link loop)"
    if exc.errno == errno.ENOENT:
        return "file not found (a broken link, or deleted during the scan)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


class _Bounded(io.RawIOBase):
    """A raw reader over a file descriptor that refuses to read past `limit` bytes."""

    def __init__(self, fd: int, limit: int) -> None:
        super().__init__()
        self._fd = fd
        self._limit = limit

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - any writable buffer
        position = os.lseek(self._fd, 0, os.SEEK_CUR)
        allowed = max(0, min(len(buffer), self._limit - position))
        if allowed == 0:
            return 0
        data = os.read(self._fd, allowed)
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self._fd)
            finally:
                super().close()


def open_photo_file(path: str | Path, allow_empty: bool = False) -> tuple[io.BufferedReader, int]:
    """(reader, size) for a regular file, following links.  Raises ImageLoadError for a
    missing, unreadable, special or (unless `allow_empty`) empty file; the reader stops at
    size + GROWTH_MARGIN."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file not found") from exc
    except PermissionError as exc:
        raise ImageLoadError(path, "permission denied") from exc
    except IsADirectoryError as exc:
        raise ImageLoadError(path, "is a folder, not a photo") from exc
    except OSError as exc:  # a link loop, a name too long, an I/O error
        raise ImageLoadError(path, f"cannot open file: {os_error_reason(exc)}") from exc
    try:
        info = os.fstat(fd)
        reason = not_regular_reason(info.st_mode)
        if reason is not None:
            raise ImageLoadError(path, "is a folder, not a photo" if stat.S_ISDIR(info.st_mode) else reason)
        if info.st_size == 0 and not allow_empty:
            raise ImageLoadError(path, "file is empty")
        return io.BufferedReader(_Bounded(fd, info.st_size + GROWTH_MARGIN)), info.st_size
    except BaseException:
        os.close(fd)
        raise


# -- paths in the database ----------------------------------------------------------------
# File names need not be valid UTF-8 (old camera cards, network shares); Python keeps their
# stray bytes as lone surrogates (U+DC80..U+DCFF), which SQLite cannot store.  Stored paths
# map each such byte to a private-use character (U+F780..U+F7FF) and escape real characters
# of that range with U+F700, character by character, so the mapping is lossless and keeps
# prefixes (the folder range scans still work).  Valid UTF-8 paths are stored unchanged.
_ESCAPE = "\uf700"
_TO_STORED = re.compile("[\udc80-\udcff\uf700\uf780-\uf7ff]")
_FROM_STORED = re.compile("\uf700[\uf700\uf780-\uf7ff]|[\uf780-\uf7ff]")


def _stored_char(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return chr(code - 0xDC00 + 0xF700) if 0xDC80 <= code <= 0xDCFF else _ESCAPE + char


def _path_char(match: re.Match) -> str:
    text = match.group()
    return text[1] if len(text) == 2 else chr(ord(text) - 0xF700 + 0xDC00)


def to_stored_path(path: str) -> str:
    """The path as the library stores it (valid UTF-8 text)."""
    return _TO_STORED.sub(_stored_char, path)


def from_stored_path(text: str) -> str:
    """The file system path of a stored path (inverse of `to_stored_path`)."""
    return _FROM_STORED.sub(_path_char, text)


def printable_path(path: str | Path) -> str:
    """A path for people: undecodable bytes shown as U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")
