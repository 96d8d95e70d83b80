"""Switching the library to another model version: embed what the version lacks, swap every
face's vector in one transaction, group again.  Above both the registry and grouping, so
neither needs the other (hand labels live on face and person rows, which a switch never
touches)."""

from __future__ import annotations

import time

from engine.errors import Cancelled
from engine.jobs import CancelToken, ProgressCallback, no_progress
from engine.library.grouping import cluster_library
from engine.library.model_registry import ACTIVE_KEY, PhotoFacesEmbedder, SwitchSummary, embed_missing, version_named
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
    version = version_named(library, name)
    reused = int(library.scalar("SELECT count(*) FROM face_embeddings WHERE model_version = ?", [name]) or 0)
    embedded, unreadable, cancelled = embed_missing(library, name, embed_photo_faces, progress, cancel)
    if cancelled:
        raise Cancelled(SwitchSummary(name, embedded, reused, unreadable, seconds=time.monotonic() - started))
    with library.atomic() as db:
        # Keep every face's current vector under its own version, then bring in the target's.
        db.execute(
            "INSERT OR REPLACE INTO face_embeddings(face_id, model_version, embedding) "
            "SELECT id, model_version, embedding FROM faces WHERE model_version != ?",
            [name],
        )
        db.execute(
            """
            UPDATE faces SET
                embedding = (SELECT e.embedding FROM face_embeddings e WHERE e.face_id = faces.id AND e.model_version = ?),
                model_version = ?
            WHERE model_version != ?
              AND EXISTS (SELECT 1 FROM face_embeddings e WHERE e.face_id = faces.id AND e.model_version = ?)
            """,
            [name, name, name, name],
        )
        db.execute("DELETE FROM face_embeddings WHERE model_version = ?", [name])  # now in the face rows
        db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", [ACTIVE_KEY, name])
    left_out = int(library.scalar("SELECT count(*) FROM faces WHERE model_version != ?", [name]) or 0)
    if regroup:
        cluster_library(library, version, progress=progress)
    return SwitchSummary(name, embedded, reused, left_out, seconds=time.monotonic() - started)
