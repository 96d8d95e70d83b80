"""Switching the library to another model version: embed what the version lacks, make it
the active one (a setting), group again.  Above both the registry and grouping, so
neither needs the other (hand labels live on face and person rows, which a switch never
touches)."""

from __future__ import annotations

import time

from engine.errors import Cancelled
from engine.jobs import CancelToken, ProgressCallback, no_progress
from engine.library.edits.edit_journal import Edit, Snapshot
from engine.library.storage.embeddings import faces_with_vectors
from engine.library.identities.grouping import cluster_library
from engine.library.storage.model_registry import (
    ACTIVE_KEY, MISSING_VECTORS_SQL, PhotoFacesEmbedder, SwitchSummary, embed_missing, version_named,
)
from engine.library.storage.preferences import clustering_version
from engine.library.storage.store import Library

def switch_model(
    library: Library,
    name: str,
    embed_photo_faces: PhotoFacesEmbedder,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    regroup: bool = True,
    description: str | None = None,
) -> SwitchSummary:
    """Make `name` the active version: embed what is missing, swap, group again.  With
    `regroup`, the switch is an edit in the undo journal (`description`): one Undo puts the
    previous model and the groups it made back."""
    started = time.monotonic()
    version_named(library, name)  # a clear error for an unknown version, before any work
    reused = faces_with_vectors(library, name)
    unreadable_ids: set[int] = set()
    embedded = 0
    while True:
        done, _, cancelled = embed_missing(library, name, embed_photo_faces, progress, cancel,
                                           unreadable_ids=unreadable_ids)
        embedded += done
        if cancelled:
            raise Cancelled(SwitchSummary(name, embedded, reused, len(unreadable_ids),
                                          seconds=time.monotonic() - started))
        # The swap and the last look for faces without a vector are one transaction: a scan
        # committing meanwhile either comes before it (its faces are embedded in the next
        # round) or after it (it then embeds in the new version itself).
        with library.atomic() as db:
            missing = {row[0] for row in db.execute(MISSING_VECTORS_SQL, [name]).fetchall()}
            if missing <= unreadable_ids:
                before = _state_before_switch(db) if regroup else None
                db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", [ACTIVE_KEY, name])
                break
    # faces whose photo could not be read: their labels stay; they wait for their vector
    left_out = len(unreadable_ids & missing)
    if regroup:
        named_before = automatic_names(library)
        cluster_library(library, clustering_version(library), progress=progress)  # at the user's strictness
        keep_as_questions(library, named_before)
        _journal_switch(library, before, description or f"Switched to the model {name}")
    return SwitchSummary(name, embedded, reused, left_out, seconds=time.monotonic() - started)


def automatic_names(library: Library) -> dict[int, int]:
    """face -> the named person the app gave it (not the user): what a new model may undo."""
    return dict(library.db.execute(
        "SELECT f.id, f.person_id FROM faces f JOIN people p ON p.id = f.person_id "
        "WHERE f.assignment = 'auto' AND p.name IS NOT NULL").fetchall())


def keep_as_questions(library: Library, named_before: dict[int, int]) -> int:
    """A name the app gave that the new model no longer supports is never dropped silently:
    a face it left with nobody becomes a question about its old person ("Is this Anna?"),
    unless the user said it is not them.  How many became questions."""
    if not named_before:
        return 0
    with library.atomic() as db:
        asked = 0
        for face_id, person_id in named_before.items():
            asked += db.execute(
                "UPDATE faces SET person_id = ?, assignment = 'suggested' WHERE id = ? AND person_id IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM rejections r WHERE r.face_id = faces.id AND r.person_id = ?) "
                "AND EXISTS (SELECT 1 FROM people p WHERE p.id = ? AND p.name IS NOT NULL)",
                [person_id, face_id, person_id, person_id]).rowcount
    return asked


def _state_before_switch(db) -> Snapshot:  # noqa: ANN001
    """Every face's person and every person, and the model in use, as the switch finds them."""
    before = Snapshot(db)
    before.save_faces(row[0] for row in db.execute("SELECT id FROM faces").fetchall())
    before.save_people(row[0] for row in db.execute("SELECT id FROM people").fetchall())
    before.save_active_model()
    return before


def _journal_switch(library: Library, before: Snapshot, description: str) -> None:
    """The switch as an undoable edit.  Only what the regrouping changed is kept: faces the
    user labelled (or labels during the switch) are never put back by undoing it, and the
    groups it made are removed again only while nobody named them."""
    with Edit(library) as edit:
        edit.description = description
        now = Snapshot(edit.db)
        now.save_faces(before.faces)
        now.save_people(row[0] for row in edit.db.execute("SELECT id FROM people").fetchall())
        for face_id, row in before.faces.items():
            current = now.faces.get(face_id)
            if current is not None and current != row and current[1] != "manual":
                edit.faces[face_id] = row
                edit.rejections[face_id] = before.rejections.get(face_id, [])
        for person_id, row in before.people.items():
            current = now.people.get(person_id)
            if current is None or (current != row and current[0] is None and row[0] is None):
                edit.people[person_id] = row  # a group the switch removed, or an unnamed one it changed
        for person_id, row in now.people.items():
            if person_id not in before.people and row is not None and row[0] is None:
                edit.people[person_id] = None  # a group the switch made
        edit.active_model = before.active_model
