"""Each person's cover face: kept while it still shows them, else their best face (hand-named
first, then the largest and surest).  Derived from the faces, so any step that moves faces
refreshes it: an edit at once (a person made by "Move to…" had no cover, a grey tile, until
the next recognition pass), grouping after it regroups."""

from __future__ import annotations

_SHOWS_THEM = """EXISTS (SELECT 1 FROM faces c WHERE c.id = people.cover_face_id AND c.person_id = people.id
                         AND c.assignment != 'suggested')"""
_BEST_FACE = """(SELECT f.id FROM faces f WHERE f.person_id = people.id AND f.assignment != 'suggested'
                  ORDER BY f.assignment = 'manual' DESC, (f.x2 - f.x1) * (f.y2 - f.y1) * f.score DESC, f.id LIMIT 1)"""


def stale_covers(db) -> list[int]:  # noqa: ANN001 - a sqlite3 connection
    """People whose cover no longer shows them, or who have none but a face to show."""
    return [row[0] for row in db.execute(
        f"SELECT id FROM people WHERE (cover_face_id IS NOT NULL AND NOT {_SHOWS_THEM}) "
        f"OR (cover_face_id IS NULL AND {_BEST_FACE} IS NOT NULL)")]


def refresh_covers(db) -> None:  # noqa: ANN001 - a sqlite3 connection
    db.execute(f"UPDATE people SET cover_face_id = {_BEST_FACE} WHERE cover_face_id IS NULL OR NOT {_SHOWS_THEM}")
