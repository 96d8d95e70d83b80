"""Counts in plain words: "1 face", "3 faces", never "1 faces"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    word = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {word}"
