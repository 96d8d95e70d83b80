"""The user's edits to people, each one undoable.

Every edit snapshots the rows it is about to change (faces' assignments, people, rejections)
into the `edits` table in the same transaction as the change; `undo` restores the latest
snapshot and keeps the rows as they were after the edit, so `redo` can put them back; a new
edit clears what could be redone (the journal: edit_journal.py).  Edits that say "these faces are this person" make the
faces 'manual', which is what clustering and recognition never override: labels survive
re-scans and re-clustering.  A face the user looked at on its own (answered, moved, confirmed)
is also `confirmed`; a face named with its group is not, and only such a face may later move
to another person when the evidence is strong (grouping.py).  Each edit is described in plain words, with names, never ids:
the window shows the description beside its Undo button.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.library.storage.assignments import THE_PERSONS, Assignment
from engine.library.edits.edit_journal import Edit, Snapshot
from engine.library.edits.edit_journal import last_edit, last_undone, redo, undo  # noqa: F401 - callers undo with the verbs
from engine.library.reading.people import clean_name, resolve_person
from engine.library.storage.store import Library, LibraryError, changed_in_chunks, ids_where
from engine.wording import counted, names_in_words


def _who(db, person_id: int | None) -> str:  # noqa: ANN001
    """A person as the user knows them."""
    if person_id is None:
        return "Unsorted"
    row = db.execute("SELECT name FROM people WHERE id = ?", [person_id]).fetchone()
    return row[0] if row and row[0] else "an unnamed group"


def _sole_person(db, faces: list[dict]) -> str | None:  # noqa: ANN001
    """The person all these faces belong to, as the user knows them; None when several."""
    people = {face["person_id"] for face in faces}
    return _who(db, people.pop()) if len(people) == 1 else None


def _faces_of(db, person_id: int, assignments: tuple[str, ...] = tuple(Assignment)) -> list[int]:  # noqa: ANN001
    marks = ",".join("?" * len(assignments))
    return [r[0] for r in db.execute(
        f"SELECT id FROM faces WHERE person_id = ? AND assignment IN ({marks})", [person_id, *assignments]
    ).fetchall()]


def _unnamed_group(db, person_id: int) -> str:  # noqa: ANN001
    """'a group of 5 faces': how an edit names a group the user has not named yet."""
    return f"a group of {counted(len(_faces_of(db, person_id)), 'face')}"


def _face(library: Library, face_id: int) -> dict:
    rows = library.query("SELECT id, person_id, assignment, photo_id, asked_from FROM faces WHERE id = ?", [int(face_id)])
    if not rows:
        raise LibraryError(f"no face with id {face_id}")
    return rows[0]


def check_face(library: Library, face_id: int) -> None:
    """LibraryError unless the face exists (before an edit that would first create a person)."""
    _face(library, face_id)


def _assigned_face(library: Library, face_id: int, hint: str = "") -> dict:
    face = _face(library, face_id)
    if face["person_id"] is None:
        raise LibraryError(f"face {face_id} is not assigned to anyone{hint}")
    return face


def _merge_into(edit: Snapshot, sources: list[int], target: int) -> None:
    db = edit.db
    edit.save_people([*sources, target])
    for source in sources:
        faces = _faces_of(db, source)
        edit.save_faces(faces)
        # Rejections of the source now speak about the merged person.
        rejected_faces = [r[0] for r in db.execute("SELECT face_id FROM rejections WHERE person_id = ?", [source]).fetchall()]
        edit.save_faces(rejected_faces)
        db.execute("INSERT OR IGNORE INTO rejections(face_id, person_id) SELECT face_id, ? FROM rejections WHERE person_id = ?", [target, source])
        db.execute(
            "UPDATE faces SET person_id = ?, assignment = CASE assignment WHEN 'suggested' THEN 'suggested' ELSE 'manual' END, "
            "distance = CASE assignment WHEN 'suggested' THEN distance END WHERE person_id = ?",
            [target, source],
        )
        name = db.execute("SELECT name FROM people WHERE id = ?", [source]).fetchone()[0]
        db.execute("DELETE FROM people WHERE id = ?", [source])
        if name and db.execute("SELECT name FROM people WHERE id = ?", [target]).fetchone()[0] is None:
            db.execute("UPDATE people SET name = ? WHERE id = ?", [name, target])
    # A merged face rejected for the target is no longer rejected: the user just said otherwise.
    db.execute("DELETE FROM rejections WHERE person_id = ? AND face_id IN (SELECT id FROM faces WHERE person_id = ?)", [target, target])


def name_person(library: Library, person: str | int, name: str) -> int:
    """Name a person; a name another person already has merges the two.  Their automatic
    faces become confirmed: the user looked at the group and named it."""
    person_id = resolve_person(library, person)
    name = clean_name(name)
    with Edit(library) as edit:
        db = edit.db
        before = db.execute("SELECT name FROM people WHERE id = ?", [person_id]).fetchone()[0]
        other = db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE AND id != ?", [name, person_id]).fetchone()
        if other:
            target = int(other[0])
            edit.description = f"Merged {before or _unnamed_group(db, person_id)} into {_who(db, target)}"
            _merge_into(edit, [person_id], target)  # the existing spelling of the name stays
            return target
        edit.description = f"Renamed {before} to {name}" if before else f"Named {_unnamed_group(db, person_id)} {name}"
        edit.save_people([person_id])
        edit.save_faces(_faces_of(db, person_id, (Assignment.AUTO,)))
        db.execute("UPDATE people SET name = ? WHERE id = ?", [name, person_id])
        db.execute("UPDATE faces SET assignment = 'manual', distance = NULL WHERE person_id = ? AND assignment = 'auto'", [person_id])
        return person_id


def merge_people(library: Library, sources: list[str | int], into: str | int) -> int:
    target = resolve_person(library, into)
    source_ids = sorted({resolve_person(library, s) for s in sources} - {target})
    if not source_ids:
        raise LibraryError("nothing to merge: name at least one other person")
    with Edit(library) as edit:
        names = [_who(edit.db, s) for s in source_ids]
        if len(names) == 1:
            what = _unnamed_group(edit.db, source_ids[0]) if names[0] == "an unnamed group" else names[0]
        else:
            what = counted(len(names), "group")
        given = [n for n in (edit.db.execute("SELECT name FROM people WHERE id = ?", [p]).fetchone()[0]
                             for p in [target, *source_ids]) if n]
        target_words = _unnamed_group(edit.db, target) if _who(edit.db, target) == "an unnamed group" else None
        _merge_into(edit, source_ids, target)
        kept = edit.db.execute("SELECT name FROM people WHERE id = ?", [target]).fetchone()[0]
        if target_words and kept:  # an unnamed group took a name from what was merged into it
            what = target_words
        edit.description = f"Merged {what} into {kept or 'an unnamed group'}"
        dropped = [n for n in given if n != kept]
        if dropped:  # two names, one person: say which one stays (the merge is one Undo away)
            edit.description += f"; the name {names_in_words(dropped)} is no longer used"
    return target


def create_person(library: Library, name: str) -> int:
    name = clean_name(name)
    with Edit(library) as edit:
        edit.description = f"Added {name}"
        if edit.db.execute("SELECT 1 FROM people WHERE name = ? COLLATE NOCASE", [name]).fetchone():
            raise LibraryError(f"there is already a person called {name!r}")
        person_id = int(edit.db.execute("INSERT INTO people(name) VALUES (?)", [name]).lastrowid)
        edit.created_person(person_id)
        return person_id


def move_faces(library: Library, face_ids: Iterable[int], to: str | int, create: bool = False) -> int:
    """These faces are that person (hand labels); one edit, one undo.  With `create`, a name
    nobody has yet becomes a new person in the same edit.  Returns the person."""
    faces = [_face(library, face_id) for face_id in dict.fromkeys(face_ids)]
    try:
        person_id: int | None = resolve_person(library, to)
    except LibraryError:
        if not create or not isinstance(to, str) or to.strip().isdigit():
            raise
        person_id, to = None, clean_name(to)
    with Edit(library) as edit:
        if person_id is None:
            person_id = int(edit.db.execute("INSERT INTO people(name) VALUES (?)", [to]).lastrowid)
            edit.created_person(person_id)
        edit.description = f"Moved {counted(len(faces), 'face')} to {_who(edit.db, person_id)}"
        ids = [face["id"] for face in faces]
        edit.save_faces(ids)
        for face_id in ids:
            edit.db.execute("DELETE FROM rejections WHERE face_id = ? AND person_id = ?", [face_id, person_id])
            edit.db.execute("UPDATE faces SET person_id = ?, assignment = 'manual', distance = NULL, confirmed = 1, named_from = NULL, "
                            "asked_from = NULL WHERE id = ?",
                            [person_id, face_id])
    return person_id


def move_face(library: Library, face_id: int, to: str | int) -> None:
    """This face is that person (a hand label)."""
    move_faces(library, [face_id], to)


def reject_faces(library: Library, face_ids: Iterable[int]) -> list[int]:
    """These faces are not the people they are assigned to; they never return to them.
    One edit; returns the people they left."""
    faces = [_assigned_face(library, face_id) for face_id in dict.fromkeys(face_ids)]
    with Edit(library) as edit:
        owner = _sole_person(edit.db, faces)
        source = f" from {owner}" if owner else ""
        back = {face["asked_from"] for face in faces}
        destination = "Unsorted" if back == {None} else (_who(edit.db, back.pop()) if len(back) == 1 else "where they were")
        edit.description = f"Moved {counted(len(faces), 'face')}{source} {'to' if destination == 'Unsorted' else 'back to'} {destination}"
        edit.save_faces([face["id"] for face in faces])
        for face in faces:
            edit.db.execute("INSERT OR IGNORE INTO rejections(face_id, person_id) VALUES (?, ?)", [face["id"], face["person_id"]])
            # No to "Is this Ben?" about a face named with its group: back to that group's person.
            edit.db.execute("UPDATE faces SET person_id = asked_from, assignment = CASE WHEN asked_from IS NULL "
                            "THEN NULL ELSE 'manual' END, distance = NULL, confirmed = 0, named_from = NULL, "
                            "asked_from = NULL WHERE id = ?", [face["id"]])
    return [int(face["person_id"]) for face in faces]


def reject_face(library: Library, face_id: int) -> int:
    """This face is not the person it is assigned to; it never returns to them."""
    return reject_faces(library, [face_id])[0]


def confirm_faces(library: Library, face_ids: Iterable[int]) -> None:
    """Yes, these faces are the people they are assigned to."""
    faces = [_assigned_face(library, face_id, "; use move to name it") for face_id in dict.fromkeys(face_ids)]
    with Edit(library) as edit:
        owner = _sole_person(edit.db, faces)
        whose = f" as {owner}" if owner else ""
        edit.description = f"Confirmed {counted(len(faces), 'face')}{whose}"
        edit.save_faces([face["id"] for face in faces])
        for face in faces:
            edit.db.execute("UPDATE faces SET assignment = 'manual', distance = NULL, confirmed = 1, named_from = NULL, "
                            "asked_from = NULL WHERE id = ?", [face["id"]])


def confirm_face(library: Library, face_id: int) -> None:
    confirm_faces(library, [face_id])


def answer_page(library: Library, person: str | int, yes: Iterable[int], no: Iterable[int] = (),
                named: dict[int, str] | None = None) -> None:
    """A page of faces answered about one person ("More of Anna?", "Is this really Anna?"), in
    one edit: the faces ticked are the person's (confirmed); those unticked are not (remembered
    for good: one of theirs goes back to Unsorted, or to the group it was named with); an
    unticked face the user gave a name becomes that person's (a new name makes a person)."""
    person_id = resolve_person(library, person)
    yes_faces = list(dict.fromkeys(int(f) for f in yes))
    no_faces = [int(f) for f in dict.fromkeys(no) if int(f) not in yes_faces]
    _answer_faces(library, {f: person_id for f in yes_faces}, {f: person_id for f in no_faces}, named,
                  lambda db: _who(db, person_id))


def answer_people_page(library: Library, proposed: dict[int, int], yes: Iterable[int],
                       named: dict[int, str] | None = None) -> None:
    """A "Who are these?" page, each face shown with the person the app proposes for it
    (`proposed`: face -> person), answered in one edit: the faces ticked (`yes`) are who the app
    said (confirmed); the others are not that person (remembered for good), or, where the user
    gave a name, that person's."""
    proposed = {int(face): resolve_person(library, person) for face, person in proposed.items()}
    ticked = {int(f) for f in yes}
    stray = ticked - set(proposed)
    if stray:
        raise LibraryError(f"face {min(stray)} is not on the page")
    _answer_faces(library, {f: p for f, p in proposed.items() if f in ticked},
                  {f: p for f, p in proposed.items() if f not in ticked}, named, None)


def _answer_faces(library: Library, yes: dict[int, int], no: dict[int, int], named: dict[int, str] | None,
                  about) -> None:  # noqa: ANN001 - the person asked about, in words, or None for several
    named = {int(face): clean_name(name) for face, name in (named or {}).items()}
    faces = {f: _face(library, f) for f in [*yes, *no]}
    with Edit(library) as edit:
        db = edit.db
        edit.save_faces(list(faces))
        for face_id, person_id in yes.items():
            db.execute("DELETE FROM rejections WHERE face_id = ? AND person_id = ?", [face_id, person_id])
            db.execute("UPDATE faces SET person_id = ?, assignment = 'manual', distance = NULL, confirmed = 1, "
                       "named_from = NULL, asked_from = NULL WHERE id = ?", [person_id, face_id])
        given = 0
        for face_id, person_id in no.items():
            db.execute("INSERT OR IGNORE INTO rejections(face_id, person_id) VALUES (?, ?)", [face_id, person_id])
            if face_id in named:
                row = db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", [named[face_id]]).fetchone()
                other = int(row[0]) if row else int(db.execute("INSERT INTO people(name) VALUES (?)",
                                                                [named[face_id]]).lastrowid)
                if row is None:
                    edit.created_person(other)
                db.execute("DELETE FROM rejections WHERE face_id = ? AND person_id = ?", [face_id, other])
                db.execute("UPDATE faces SET person_id = ?, assignment = 'manual', distance = NULL, confirmed = 1, "
                           "named_from = NULL, asked_from = NULL WHERE id = ?", [other, face_id])
                given += 1
            elif faces[face_id]["person_id"] == person_id:
                db.execute("UPDATE faces SET person_id = asked_from, assignment = CASE WHEN asked_from IS NULL "
                           "THEN NULL ELSE 'manual' END, distance = NULL, confirmed = 0, named_from = NULL, "
                           "asked_from = NULL WHERE id = ?", [face_id])
        if about is not None:
            who = about(db)
            parts = [f"{counted(len(yes), 'face')} {'is' if len(yes) == 1 else 'are'} {who}"] if yes else []
            if no:
                parts.append(f"{counted(len(no), 'face')} {'is' if len(no) == 1 else 'are'} not")
        else:  # several people: say who, by name
            names = sorted({_who(db, person) for person in yes.values()}, key=str.casefold)
            shown = names if len(names) <= 4 else [*names[:3], f"{len(names) - 3} others"]
            parts = [f"{counted(len(yes), 'face')} of {names_in_words(shown)}"] if yes else []
            if no:
                parts.append(f"{counted(len(no), 'face')} not who the app thought")
        if given:
            parts.append(f"{counted(given, 'face')} named otherwise")
        edit.description = ("Answered: " + ", ".join(parts) if parts
                            else f"Answered a page about {about(db) if about else 'several people'}")


def not_same_person(library: Library, group: str | int, other: str | int) -> None:
    """The answer No to "Is this group NAME?" or "Same person?": every face of the group is
    rejected for the other person (and, when neither has a name, the other way round too),
    so no regroup or recognition puts them together and the question is not asked again."""
    group_id, other_id = resolve_person(library, group), resolve_person(library, other)
    if group_id == other_id:
        raise LibraryError("a person is always the same person as themselves")
    with Edit(library) as edit:
        db = edit.db
        group_faces = _faces_of(db, group_id, THE_PERSONS)
        other_faces = _faces_of(db, other_id, THE_PERSONS)
        other_name = db.execute("SELECT name FROM people WHERE id = ?", [other_id]).fetchone()[0]
        edit.save_faces(group_faces + other_faces)
        pairs = [(face, other_id) for face in group_faces]
        if other_name is None:
            edit.description = (f"Kept apart two groups ({counted(len(group_faces), 'face')} and "
                                f"{counted(len(other_faces), 'face')}): not the same person")
            pairs += [(face, group_id) for face in other_faces]
        else:
            edit.description = f"Noted that a group of {counted(len(group_faces), 'face')} is not {other_name}"
        db.conn.executemany("INSERT OR IGNORE INTO rejections(face_id, person_id) VALUES (?, ?)", pairs)


def not_a_face(library: Library, face_ids: Iterable[int]) -> None:
    """These boxes are not faces (a false detection): they leave the library, and Undo brings
    them back with everything said about them."""
    faces = [_face(library, face_id) for face_id in dict.fromkeys(face_ids)]
    if not faces:
        raise LibraryError("no face chosen")
    with Edit(library) as edit:
        db = edit.db
        ids = [face["id"] for face in faces]
        edit.description = ("Removed a box that is not a face" if len(ids) == 1
                            else f"Removed {len(ids):,} boxes that are not faces")
        edit.save_faces(ids)
        edit.save_rows(ids)
        edit.save_people(ids_where(db, "SELECT id FROM people WHERE cover_face_id IN ({})", ids))
        changed_in_chunks(db, "DELETE FROM faces WHERE id IN ({})", ids)


def remove_folder(library: Library, stored_path: str, shown_as: str) -> int:
    """The folder's photos leave the library with their faces (the files stay on disk); the
    people and their names stay.  One edit: Undo brings everything back.  `stored_path` as the
    folders table holds it; `shown_as` is how the user knows it.  Returns the photos removed."""
    folder = library.scalar("SELECT id FROM folders WHERE path = ?", [stored_path])
    if folder is None:
        raise LibraryError(f"{shown_as} is not one of the library's folders")
    with Edit(library) as edit:
        db = edit.db
        photos = [r[0] for r in db.execute("SELECT id FROM photos WHERE folder_id = ?", [folder]).fetchall()]
        faces = ids_where(db, "SELECT id FROM faces WHERE photo_id IN ({})", photos)
        edit.description = f"Removed {shown_as} from the library ({counted(len(photos), 'photo')})"
        edit.save_faces(faces)
        edit.save_rows(faces)
        edit.save_table_rows("folders", [folder])
        edit.save_table_rows("photos", photos)
        edit.save_people(ids_where(db, "SELECT id FROM people WHERE cover_face_id IN ({})", faces))
        ids_where(db, "DELETE FROM photos WHERE id IN ({}) RETURNING id", photos)  # their faces go with them
        db.execute("DELETE FROM folders WHERE id = ?", [folder])
        return len(photos)


def hide_person(library: Library, person: str | int, hidden: bool = True) -> None:
    person_id = resolve_person(library, person)
    with Edit(library) as edit:
        edit.description = f"{'Hid' if hidden else 'Showed'} {_who(edit.db, person_id)}"
        edit.save_people([person_id])
        edit.db.execute("UPDATE people SET hidden = ? WHERE id = ?", [int(hidden), person_id])


def set_cover(library: Library, person: str | int, face_id: int) -> None:
    """Show this face on the person's tile."""
    person_id = resolve_person(library, person)
    face = _face(library, face_id)
    if face["person_id"] != person_id:
        raise LibraryError(f"face {face_id} is not one of person {person_id}'s faces")
    with Edit(library) as edit:
        edit.description = f"Chose a new cover face for {_who(edit.db, person_id)}"
        edit.save_people([person_id])
        edit.db.execute("UPDATE people SET cover_face_id = ? WHERE id = ?", [face_id, person_id])
