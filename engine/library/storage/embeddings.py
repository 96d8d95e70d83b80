"""Where face vectors live: `face_embeddings(face_id, model_version, embedding)`, one row per
face and model version, and the active version a setting.  Face rows hold no vector, so an
edit that moves faces between people never rewrites one, and a model switch only adds rows."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.library.storage.store import Library, blob_to_embedding, embedding_to_blob, in_chunks

# Joins a face `f` to its vector `e` under the version bound to this placeholder.
WITH_VECTOR = "JOIN face_embeddings e ON e.face_id = f.id AND e.model_version = ?"


def store_vectors(db, rows: Iterable[tuple[int, str, np.ndarray]]) -> None:  # noqa: ANN001 - a sqlite-utils Database
    """(face id, version, vector) rows, replacing what a face had under that version."""
    db.conn.executemany(
        "INSERT OR REPLACE INTO face_embeddings(face_id, model_version, embedding) VALUES (?, ?, ?)",
        [(int(face_id), version, embedding_to_blob(vector)) for face_id, version, vector in rows],
    )


def copy_vectors(db, source_face: int, target_face: int) -> None:  # noqa: ANN001
    """Every version's vector of one face for another (a byte-identical copy of its photo)."""
    db.execute(
        "INSERT OR IGNORE INTO face_embeddings(face_id, model_version, embedding) "
        "SELECT ?, model_version, embedding FROM face_embeddings WHERE face_id = ?",
        [target_face, source_face],
    )


def vectors_of(library: Library, face_ids: list[int], version: str) -> dict[int, np.ndarray]:
    """The stored vectors of these faces under `version` (faces without one are left out)."""
    found: dict[int, np.ndarray] = {}
    sql = "SELECT face_id, embedding FROM face_embeddings WHERE model_version = ? AND face_id IN ({})"
    for cursor in in_chunks(library.db, sql, face_ids, before=[version]):
        found.update((face_id, blob_to_embedding(blob)) for face_id, blob in cursor.fetchall())
    return found


def faces_with_vectors(library: Library, version: str) -> int:
    return int(library.scalar("SELECT count(*) FROM face_embeddings WHERE model_version = ?", [version]) or 0)
