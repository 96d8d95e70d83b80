"""What a model switch or a regroup changed, in the words a person reads: "12 more faces
named, 3 moved to Ben, 2 now asked about" (face counts, never internal ids)."""

from __future__ import annotations

from collections import Counter

from engine.library.storage.store import Library
from engine.wording import counted, names_in_words


def named_faces(library: Library) -> dict[int, str]:
    """face -> the name it is shown under (suggestions are questions, not names)."""
    return dict(library.db.execute(
        "SELECT f.id, p.name FROM faces f JOIN people p ON p.id = f.person_id "
        "WHERE p.name IS NOT NULL AND f.assignment != 'suggested'").fetchall())


def asked_faces(library: Library) -> set[int]:
    return {row[0] for row in library.db.execute("SELECT id FROM faces WHERE assignment = 'suggested'")}


def changes_in_words(before: dict[int, str], after: dict[int, str], asked_before: set[int] = frozenset(),
                     asked_after: set[int] = frozenset()) -> str:
    """'12 more faces named, 3 moved to Ben, 2 now asked about', or 'no face changed name'."""
    gained = [face for face in after if face not in before]
    moved = Counter(after[face] for face in after if face in before and before[face] != after[face])
    lost = [face for face in before if face not in after]
    parts = []
    if gained:
        parts.append(f"{counted(len(gained), 'more face')} named")
    for name, count in moved.most_common(2):
        parts.append(f"{count} moved to {name}")
    if len(moved) > 2:
        parts.append(f"{sum(moved.values()) - sum(c for _, c in moved.most_common(2))} to others")
    questions = len(set(lost) & (set(asked_after) - set(asked_before)))
    if questions:
        parts.append(f"{counted(questions, 'face')} now asked about")
    if len(lost) > questions:
        parts.append(f"{counted(len(lost) - questions, 'face')} no longer named")
    return names_in_words(parts) if parts else "no face changed name"
