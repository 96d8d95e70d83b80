"""Library folders as the database knows them: one row per folder by its real path, and the
range of stored paths under a folder (a range scan on the path index)."""

from __future__ import annotations

import os
from pathlib import Path

from engine.library.storage.store import Library
from engine.user_files import to_stored_path


def folder_row(library: Library, folder: str) -> int:
    """The folder's id in the library, added if it is new."""
    stored = to_stored_path(folder)
    with library.atomic() as db:
        db.execute("INSERT OR IGNORE INTO folders(path) VALUES (?)", [stored])
        return int(db.execute("SELECT id FROM folders WHERE path = ?", [stored]).fetchone()[0])


def stored_range(folder: str) -> list[str]:
    """[low, high) of the stored paths of the files under `folder` (a range scan on the path index)."""
    prefix = to_stored_path(folder.rstrip(os.sep) + os.sep)
    return [prefix, prefix[:-1] + chr(ord(os.sep) + 1)]


def real_folder(library: Library, folder: str | Path) -> str:
    """A library folder by its real path, so one folder reached through two paths (a link to
    it) is one folder, each photo in it one photo.  A folder the library knew by a link's
    path is renamed to its real path, with its photos, faces and names."""
    given = os.path.abspath(os.path.expanduser(str(folder)))
    real = os.path.realpath(given)
    if real == given or not os.path.isdir(real):
        return given
    old, new = to_stored_path(given), to_stored_path(real)
    with library.atomic() as db:
        if db.execute("SELECT 1 FROM folders WHERE path = ?", [old]).fetchone() is None:
            return real
        db.execute("INSERT OR IGNORE INTO folders(path) VALUES (?)", [new])
        new_id = db.execute("SELECT id FROM folders WHERE path = ?", [new]).fetchone()[0]
        low, high = stored_range(given)
        db.execute(
            "UPDATE OR IGNORE photos SET path = ? || substr(path, ?), folder_id = ? WHERE path >= ? AND path < ?",
            [new, len(old) + 1, new_id, low, high],
        )
        db.execute("UPDATE photos SET folder_id = ? WHERE folder_id = (SELECT id FROM folders WHERE path = ?)",
                   [new_id, old])
        db.execute("DELETE FROM folders WHERE path = ?", [old])
    return real
