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


class Assignment(StrEnum):
    MANUAL = "manual"
    AUTO = "auto"
    SUGGESTED = "suggested"


# The states in which a face counts as its person's (people's faces, covers, exports).
THE_PERSONS = (Assignment.AUTO, Assignment.MANUAL)
