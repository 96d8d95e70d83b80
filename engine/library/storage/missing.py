"""Photos gone from disk.  A scan never forgets a photo on its own: an unplugged drive or an
empty mount point looks exactly like deleted photos, and forgetting them would lose every
name on them.  They stay, marked missing, until the user says to forget them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from engine.library.storage.store import Library, changed_in_chunks
from engine.user_files import from_stored_path, to_stored_path


@dataclass(frozen=True)
class MissingPhoto:
    id: int
    path: str  # file system path
    faces: int
    named: int  # faces of named people
    missing_since: str


def missing_photos(library: Library, folder: str | None = None) -> list[MissingPhoto]:
    params: list = []
    where = "ph.missing_since IS NOT NULL"
    if folder is not None:
        prefix = to_stored_path(os.path.abspath(os.path.expanduser(folder)).rstrip(os.sep) + os.sep)
        where += " AND ph.path >= ? AND ph.path < ?"
        params += [prefix, prefix[:-1] + chr(ord(os.sep) + 1)]
    rows = library.query(
        f"""
        SELECT ph.id, ph.path, ph.missing_since, count(f.id) AS faces,
               count(f.id) FILTER (WHERE p.name IS NOT NULL) AS named
        FROM photos ph LEFT JOIN faces f ON f.photo_id = ph.id LEFT JOIN people p ON p.id = f.person_id
        WHERE {where} GROUP BY ph.id ORDER BY ph.path
        """,
        params,
    )
    return [MissingPhoto(r["id"], from_stored_path(r["path"]), r["faces"], r["named"], r["missing_since"]) for r in rows]


def missing_count(library: Library) -> int:
    return int(library.scalar("SELECT count(*) FROM photos WHERE missing_since IS NOT NULL") or 0)


def forget_missing(library: Library, photo_ids: list[int]) -> int:
    """Remove these photos (only those still missing) and their faces; people and names stay."""
    with library.atomic() as db:
        return changed_in_chunks(db, "DELETE FROM photos WHERE missing_since IS NOT NULL AND id IN ({})", photo_ids)
