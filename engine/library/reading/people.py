"""Looking up people and what they appear in."""

from __future__ import annotations

import unicodedata

from engine.library.storage.records import PersonSummary
from engine.wording import is_control_character
from engine.library.storage.store import Library, LibraryError
from engine.user_files import from_stored_path


MAX_NAME_CHARS = 100  # longer is no name (a 1 MB region name came from a damaged sidecar)


def normal_name(name: str) -> str:
    """A name as the library stores and compares it: NFC (the "José" typed on a Mac and on
    Windows is one person), white space folded, no control or direction-override
    characters (they would rewrite a terminal or reverse a line)."""
    text = unicodedata.normalize("NFC", str(name))
    text = "".join(ch for ch in text if ch in " \t\n\r" or not is_control_character(ch))
    return " ".join(text.split())


def clean_name(name: str) -> str:
    cleaned = normal_name(name)
    if not cleaned:
        raise LibraryError("a person's name cannot be empty")
    if len(cleaned) > MAX_NAME_CHARS:
        raise LibraryError(f"a person's name can have at most {MAX_NAME_CHARS} characters (this one has {len(cleaned):,})")
    return cleaned


def ensure_person(db, name: str) -> int:  # noqa: ANN001
    """The person with this name (ignoring case), created if missing."""
    name = clean_name(name)
    row = db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", [name]).fetchone()
    if row:
        return int(row[0])
    return int(db.execute("INSERT INTO people(name) VALUES (?)", [name]).lastrowid)


def resolve_person(library: Library, ref: str | int) -> int:
    """A person given by id ("12") or by name (any case)."""
    text = normal_name(str(ref))
    if text.isdigit():
        row = library.scalar("SELECT id FROM people WHERE id = ?", [int(text)])
        if row is not None:
            return int(row)
    row = library.scalar("SELECT id FROM people WHERE name = ? COLLATE NOCASE", [text])
    if row is None:
        raise LibraryError(f"no person called {text!r} (see `facenet people`)")
    return int(row)


def list_people(library: Library, include_hidden: bool = False) -> list[PersonSummary]:
    rows = library.query(
        """
        SELECT p.id, p.name, p.hidden,
               count(f.id) FILTER (WHERE f.assignment != 'suggested') AS faces,
               count(DISTINCT f.photo_id) FILTER (WHERE f.assignment != 'suggested') AS photos,
               count(f.id) FILTER (WHERE f.assignment = 'suggested') AS suggested
        FROM people p LEFT JOIN faces f ON f.person_id = p.id
        WHERE (? OR p.hidden = 0)
        GROUP BY p.id
        ORDER BY p.name IS NULL, p.name COLLATE NOCASE, faces DESC, p.id
        """,
        [1 if include_hidden else 0],
    )
    return [
        PersonSummary(r["id"], r["name"], r["faces"], r["photos"], bool(r["hidden"]), r["suggested"]) for r in rows
    ]


def find_people(library: Library, text: str) -> list[tuple[int, str]]:
    """The visible named people a typed name can mean, as (id, name): the whole name in any
    case; else everyone with that word in their name (a first name, a surname); else the
    names that begin with what was typed."""
    typed = " ".join(text.split()).casefold()
    if not typed:
        return []
    people = [(r["id"], r["name"]) for r in library.query(
        "SELECT id, name FROM people WHERE name IS NOT NULL AND hidden = 0 ORDER BY name COLLATE NOCASE, id")]
    for matches in (lambda name: name.casefold() == typed,
                    lambda name: typed in name.casefold().split(),
                    lambda name: name.casefold().startswith(typed)):
        found = [(person, name) for person, name in people if matches(name)]
        if found:
            return found
    return []


def photos_with_people(library: Library, people: list[str | int]) -> list[str]:
    """Paths of the photos in which every one of `people` appears (confirmed or automatic)."""
    ids = sorted({resolve_person(library, p) for p in people})
    if not ids:
        return []
    placeholders = ",".join("?" * len(ids))
    rows = library.query(
        f"""
        SELECT ph.path FROM photos ph JOIN faces f ON f.photo_id = ph.id
        WHERE f.person_id IN ({placeholders}) AND f.assignment IN ('auto', 'manual') AND ph.missing_since IS NULL
        GROUP BY ph.id HAVING count(DISTINCT f.person_id) = ?
        ORDER BY coalesce(ph.taken_at, ''), ph.path
        """,
        [*ids, len(ids)],
    )
    return [from_stored_path(r["path"]) for r in rows]


def person_name_and_hidden(library: Library, person_id: int) -> tuple[str | None, bool] | None:
    """(name, hidden) of a person; None when the person is gone (merged away, removed)."""
    row = library.db.execute("SELECT name, hidden FROM people WHERE id = ?", [person_id]).fetchone()
    return None if row is None else (row[0], bool(row[1]))


def other_person_named(library: Library, name: str, but: int) -> int | None:
    """Someone else already called `name` (any case): renaming to it means merging."""
    cleaned = normal_name(name)  # as clean_name, but an empty name is the edit's to refuse
    found = library.scalar("SELECT id FROM people WHERE name = ? COLLATE NOCASE AND id != ?", [cleaned, but])
    return None if found is None else int(found)


def person_names(library: Library) -> list[str]:
    return [r[0] for r in library.db.execute("SELECT name FROM people WHERE name IS NOT NULL ORDER BY name COLLATE NOCASE")]


def person_of_each_face(library: Library) -> dict[int, int | None]:
    """face id -> person id (None: unsorted), to count what a regroup changed."""
    return dict(library.db.execute("SELECT id, person_id FROM faces").fetchall())
