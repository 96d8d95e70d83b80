"""Counts and lists in plain words: "1 face", "3 faces" (never "1 faces"), "Anna, Ben and Cleo"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    word = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {word}"


def names_in_words(names: tuple[str, ...] | list[str], last_joiner: str = "and") -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {last_joiner} " + names[-1]


def library_in_words(photos: int, faces: int, people: int, named: int) -> str:
    """The status bar's line when nothing else is going on: '125 photos, 246 faces, 24 people (6 named)'."""
    if not photos and not faces:
        return ""
    named_words = f"{named:,} named" if named else "none named yet"
    return f"{counted(photos, 'photo')}, {counted(faces, 'face')}, {counted(people, 'person', 'people')} ({named_words})"
