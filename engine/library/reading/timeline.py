"""Every photo of the library by when it was taken, for the All photos view: a photo with no
face found is reachable too (to draw the face the scan missed).  When a photo was taken is
its camera date (EXIF), else its file's time; the month is the timeline's heading."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from engine.library.reading.browse import TAKEN_SQL
from engine.library.storage.store import Library
from engine.user_files import from_stored_path, printable_path, to_stored_path

_TAKEN = TAKEN_SQL


@dataclass(frozen=True)
class TimelinePhoto:
    photo_id: int
    path: str  # as on disk
    taken: str  # ISO date and time, local
    by_camera: bool  # the camera's date; False: the file's time
    faces: int

    @property
    def month(self) -> str:
        return self.taken[:7]


@dataclass(frozen=True)
class Month:
    key: str  # "2024-05"
    first: int  # index of its first photo in the timeline
    photos: int

    @property
    def title(self) -> str:
        return month_title(self.key)


def month_title(key: str) -> str:
    """ "2024-05" -> "May 2024"."""
    year, month = key.split("-")[:2]
    return f"{calendar.month_name[int(month)]} {year}"


def timeline(library: Library, folder: str | None = None, newest_first: bool = True) -> list[TimelinePhoto]:
    """The library's photos (analysed, on disk or on a drive not plugged in now) by date;
    `folder`: only those in it or below it."""
    where, values = "ph.status = 'done'", []
    if folder is not None:
        stored = to_stored_path(str(folder)).rstrip("/")
        where += " AND substr(ph.path, 1, ?) = ?"  # a prefix, case and all (LIKE ignores case)
        values = [len(stored) + 1, f"{stored}/"]
    order = "DESC" if newest_first else "ASC"
    rows = library.db.execute(
        f"SELECT ph.id, ph.path, {_TAKEN} AS taken, ph.taken_at IS NOT NULL AS by_camera, "
        f"(SELECT count(*) FROM faces f WHERE f.photo_id = ph.id) AS faces FROM photos ph WHERE {where} "
        f"ORDER BY taken {order}, ph.path {order}", values).fetchall()
    return [TimelinePhoto(int(r[0]), from_stored_path(r[1]), r[2] or "", bool(r[3]), int(r[4])) for r in rows]


def months(photos: list[TimelinePhoto]) -> list[Month]:
    """The timeline's months in its order, each with where it starts and how many photos it holds."""
    out: list[Month] = []
    for index, photo in enumerate(photos):
        if out and out[-1].key == photo.month:
            out[-1] = Month(out[-1].key, out[-1].first, out[-1].photos + 1)
        else:
            out.append(Month(photo.month, index, 1))
    return out


def photo_taken(library: Library, photo_id: int) -> str | None:
    """When a photo was taken, in words ("Taken 12 May 2024, 14:03"; "File dated …" without
    a camera date); None for a photo no longer in the library."""
    row = library.db.execute(f"SELECT {_TAKEN}, ph.taken_at IS NOT NULL FROM photos ph WHERE ph.id = ?",
                             [photo_id]).fetchone()
    if row is None or not row[0]:
        return None
    return f"{'Taken' if row[1] else 'File dated'} {date_in_words(row[0])}"


def date_in_words(iso: str) -> str:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{when.day} {calendar.month_name[when.month]} {when.year}, {when:%H:%M}"


def folder_tree(library: Library) -> dict[str, list[str]]:
    """Each library folder -> the folders below it that hold photos (for the tree beside
    the timeline), as paths on disk."""
    tree: dict[str, set[str]] = {}
    for folder, photo in library.db.execute(
            "SELECT f.path, ph.path FROM photos ph JOIN folders f ON f.id = ph.folder_id WHERE ph.status = 'done'"):
        root = from_stored_path(folder)
        parent = str(PurePath(from_stored_path(photo)).parent)
        below = tree.setdefault(root, set())
        while parent != root and parent.startswith(root.rstrip("/") + "/"):
            below.add(parent)
            parent = str(PurePath(parent).parent)
    return {root: sorted(below, key=printable_path) for root, below in sorted(tree.items())}
