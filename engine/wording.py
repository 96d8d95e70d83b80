"""Counts and lists in plain words: "1 face", "3 faces" (never "1 faces"), "Anna, Ben and Cleo"."""

from __future__ import annotations

import unicodedata


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


# Bidirectional embeddings, overrides and isolates: U+202E shows "gpj.exe" as "exe.jpg".
DIRECTION_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_control_character(ch: str) -> bool:
    """Control characters (terminal escapes, NUL) and direction controls; joiners used in
    writing (U+200C, U+200D) are letters' business and stay."""
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in DIRECTION_CONTROLS


def printable_text(text: str) -> str:
    """Text from a file name or a name, safe to print: control and direction characters are
    shown as escapes (\\x1b, \\u202e) instead of moving the cursor or reversing the line,
    and bytes that are not UTF-8 as U+FFFD."""
    try:
        text = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = str(text).encode("utf-8", "replace").decode("utf-8")
    return "".join(_escaped(ch) if is_control_character(ch) else ch for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
