"""Switching the library to another model version: embed what the version lacks, make it
the active one (a setting), group again.  Above both the registry and grouping, so
neither needs the other (hand labels live on face and person rows, which a switch never
touches)."""

from __future__ import annotations

import time

from engine.errors import Cancelled
from engine.jobs import CancelToken, ProgressCallback, no_progress
from engine.library.embeddings import faces_with_vectors
from engine.library.grouping import cluster_library
from engine.library.model_registry import (
    ACTIVE_KEY, MISSING_VECTORS_SQL, PhotoFacesEmbedder, SwitchSummary, embed_missing, version_named,
)
from engine.library.preferences import clustering_version
from engine.library.store import Library

def switch_model(
    library: Library,
    name: str,
    embed_photo_faces: PhotoFacesEmbedder,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    regroup: bool = True,
) -> SwitchSummary:
    """Make `name` the active version: embed what is missing, swap, group again."""
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
                db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", [ACTIVE_KEY, name])
                break
    # faces whose photo could not be read: their labels stay; they wait for their vector
    left_out = len(unreadable_ids & missing)
    if regroup:
        named_before = automatic_names(library)
        cluster_library(library, clustering_version(library), progress=progress)  # at the user's strictness
        keep_as_questions(library, named_before)
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
