"""Read-only views of the library for the GUI: people with covers, a person's faces, the
unsorted faces, suggestions to confirm, one photo's faces, and photo search (thumbnails are
engine.library.storage.thumbnails)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.library.storage.store import Library, in_chunks
from engine.user_files import from_stored_path
UNSORTED = -1  # the person id the GUI uses for "Unsorted faces"


@dataclass(frozen=True)
class PersonTile:
    id: int
    name: str | None
    faces: int
    cover_face_id: int | None
    hidden: bool
    added: str = ""  # when the person was made (SQLite datetime text: sorts by time)


@dataclass(frozen=True)
class FaceTile:
    id: int
    photo_id: int
    path: str
    box: tuple[float, float, float, float]
    person_id: int | None
    person_name: str | None
    assignment: str | None
    distance: float | None
    confirmed: bool = False  # looked at on its own by the user, not only named with its group
    named_from: str | None = None  # 'XMP': named in another app, read from the photo's metadata
    taken: str | None = None  # when the photo was taken (ISO, local): the camera's date, else the file's time


def people_tiles(library: Library, include_hidden: bool = False) -> list[PersonTile]:
    """People biggest first (then by name), with their cover face."""
    rows = library.query(
        """
        SELECT p.id, p.name, p.hidden, p.cover_face_id, p.created_at, coalesce(n.faces, 0) AS faces
        FROM people p LEFT JOIN (
            SELECT person_id, count(*) AS faces FROM faces
            WHERE person_id IS NOT NULL AND assignment != 'suggested' GROUP BY person_id
        ) n ON n.person_id = p.id
        WHERE (? OR p.hidden = 0) AND (coalesce(n.faces, 0) > 0 OR p.name IS NOT NULL)
        ORDER BY faces DESC, p.name IS NULL, p.name COLLATE NOCASE, p.id
        """,
        [1 if include_hidden else 0],
    )
    return [PersonTile(r["id"], r["name"], r["faces"], r["cover_face_id"], bool(r["hidden"]), r["created_at"])
            for r in rows]


# When a photo (alias ph) was taken: its camera date, else its file's time as local time.
TAKEN_SQL = "coalesce(ph.taken_at, strftime('%Y-%m-%dT%H:%M:%S', ph.mtime_ns / 1000000000, 'unixepoch', 'localtime'))"

_FACE_COLUMNS = f"""
    f.id, f.photo_id, ph.path, f.x1, f.y1, f.x2, f.y2, f.person_id, p.name, f.assignment, f.distance, f.confirmed,
    f.named_from, {TAKEN_SQL} AS taken
    FROM faces f JOIN photos ph ON ph.id = f.photo_id LEFT JOIN people p ON p.id = f.person_id
"""


# Photos gone from disk keep their faces and names (engine.library.storage.missing) but leave the grids.
_ON_DISK = "ph.missing_since IS NULL"


def _tiles(rows: list[dict]) -> list[FaceTile]:
    return [FaceTile(r["id"], r["photo_id"], from_stored_path(r["path"]), (r["x1"], r["y1"], r["x2"], r["y2"]), r["person_id"],
                     r["name"], r["assignment"], r["distance"], bool(r["confirmed"]), r["named_from"], r.get("taken"))
            for r in rows]


def person_faces(library: Library, person_id: int, limit: int = -1) -> list[FaceTile]:
    """A person's faces (hand-labelled first), or the unsorted faces for UNSORTED; the first
    `limit` only if given."""
    if person_id == UNSORTED:
        return _tiles(library.query(
            f"SELECT {_FACE_COLUMNS} WHERE f.person_id IS NULL AND {_ON_DISK} ORDER BY ph.path, f.id LIMIT ?", [limit]))
    return _tiles(library.query(
        f"SELECT {_FACE_COLUMNS} WHERE f.person_id = ? AND f.assignment != 'suggested' AND {_ON_DISK} "
        "ORDER BY f.assignment = 'manual' DESC, f.confirmed DESC, ph.path, f.id LIMIT ?", [person_id, limit]))


def unsorted_count(library: Library) -> int:
    return int(library.scalar(
        "SELECT count(*) FROM faces f JOIN photos ph ON ph.id = f.photo_id "
        f"WHERE f.person_id IS NULL AND {_ON_DISK}") or 0)


def suggestions(library: Library) -> list[FaceTile]:
    """Low-confidence automatic assignments to named people, the surest first."""
    return _tiles(library.query(
        f"SELECT {_FACE_COLUMNS} WHERE f.assignment = 'suggested' AND p.name IS NOT NULL AND {_ON_DISK} "
        "ORDER BY f.distance, f.id"))


def faces_by_id(library: Library, face_ids: list[int]) -> dict[int, FaceTile]:
    """These faces (those still in the library), by id."""
    out: dict[int, FaceTile] = {}
    for cursor in in_chunks(library.db, f"SELECT {_FACE_COLUMNS} WHERE f.id IN ({{}})", list(dict.fromkeys(face_ids))):
        names = [c[0] for c in cursor.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        out.update((tile.id, tile) for tile in _tiles(rows))
    return out


def photo_faces(library: Library, photo_id: int) -> list[FaceTile]:
    return _tiles(library.query(f"SELECT {_FACE_COLUMNS} WHERE f.photo_id = ? ORDER BY f.x1", [photo_id]))


def group_size(library: Library, person_id: int) -> int:
    """The faces a person or group holds as its own (suggested faces are only asked about)."""
    return int(library.scalar("SELECT count(*) FROM faces WHERE person_id = ? AND assignment != 'suggested'",
                              [person_id]))


def parse_people_query(text: str) -> list[str]:
    """"Anna and Ben", "Anna, Ben", "Anna & Ben" -> ["Anna", "Ben"]."""
    return [part.strip() for part in re.split(r"\s*(?:,|&|\+|\band\b)\s*", text.strip(), flags=re.IGNORECASE) if part.strip()]


def search_photos(library: Library, names: list[str]) -> list[FaceTile]:
    """Photos showing every named person; each as the face of the first person named in it."""
    from engine.library.reading.people import photos_with_people, resolve_person

    paths = photos_with_people(library, names)
    if not paths:
        return []
    first_face: dict[str, FaceTile] = {}  # one query for the first person's faces, not one per photo
    for tile in _tiles(library.query(f"SELECT {_FACE_COLUMNS} WHERE f.person_id = ? ORDER BY f.id",
                                     [resolve_person(library, names[0])])):
        first_face.setdefault(tile.path, tile)
    return [first_face[path] for path in paths if path in first_face]


def first_unsorted_face(library: Library) -> int | None:
    """The face the Unsorted tile shows."""
    return library.scalar("SELECT id FROM faces WHERE person_id IS NULL ORDER BY id LIMIT 1")


def face_count(library: Library) -> int:
    return int(library.scalar("SELECT count(*) FROM faces") or 0)


def photo_count(library: Library) -> int:
    """Photos analysed and still on disk (or on a drive that is not plugged in now)."""
    return int(library.scalar("SELECT count(*) FROM photos WHERE status = 'done' AND missing_since IS NULL") or 0)


def photo_file(library: Library, photo_id: int) -> tuple[str, int | None] | None:
    """Where a photo is and its width as analysed; None when it left the library."""
    row = library.db.execute("SELECT path, width FROM photos WHERE id = ?", [photo_id]).fetchone()
    return None if row is None else (from_stored_path(row[0]), row[1])
