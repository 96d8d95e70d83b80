"""How a face belongs to a person: the one place the states are named.

- MANUAL: the user said so (named, moved, answered, drew, or named with its group); grouping
  and recognition never override it.
- AUTO: grouped or recognised by the app.
- SUGGESTED: offered to the user and not yet answered; the face does not count as the
  person's yet (it shows on the Suggestions page, not in the person's faces).
- None: in no person (unsorted).

SQL text keeps the words themselves: the faces table's CHECK constraint lists them, and
SQLite uses the partial index on suggested faces only when a query names 'suggested'."""

from __future__ import annotations

from enum import StrEnum

from engine.library.storage.store import ids_where


class Assignment(StrEnum):
    MANUAL = "manual"
    AUTO = "auto"
    SUGGESTED = "suggested"


# The states in which a face counts as its person's (people's faces, covers, exports).
THE_PERSONS = (Assignment.AUTO, Assignment.MANUAL)


# Conditions a write may be limited to (SQL over the faces table): never over a hand label,
# or only over faces in no person.
NOT_BY_HAND = "(assignment IS NULL OR assignment != 'manual')"
IN_NO_PERSON = "person_id IS NULL"


def faces_where(db, face_ids: list[int], condition: str) -> set[int]:  # noqa: ANN001 - a sqlite-utils Database
    """Those of the faces for which `condition` holds now (one query per 500 ids)."""
    return set(ids_where(db, f"SELECT id FROM faces WHERE id IN ({{}}) AND {condition}", face_ids))


def write_assignments(db, rows: list[tuple[int, Assignment, float, int]], condition: str) -> None:  # noqa: ANN001
    """(person, state, distance, face) rows in one batch, each only where `condition` holds:
    what grouping and recognition decide never lands on a face the user labelled since."""
    db.conn.executemany(
        f"UPDATE faces SET person_id = ?, assignment = ?, distance = ? WHERE id = ? AND {condition}",
        [(person, str(state), distance, face) for person, state, distance, face in rows],
    )
