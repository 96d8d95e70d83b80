"""Writing detected faces, and carrying hand labels over when a photo is analysed again."""

from __future__ import annotations

import numpy as np

from engine.library.store import blob_to_embedding, embedding_to_blob
from engine.model_versions import ModelVersion
from engine.pipeline import DetectedFace


def insert_faces(db, photo_id: int, faces: list[DetectedFace], model_version: str) -> list[int]:  # noqa: ANN001
    ids = []
    for face in faces:
        if face.embedding is None:
            raise ValueError("faces are stored with their embeddings")
        cursor = db.execute(
            "INSERT INTO faces(photo_id, x1, y1, x2, y2, score, landmarks, embedding, model_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                photo_id,
                *(float(v) for v in face.box),
                float(face.score),
                np.asarray(face.landmarks, dtype="<f4").tobytes(),
                embedding_to_blob(face.embedding),
                model_version,
            ],
        )
        ids.append(int(cursor.lastrowid))
    return ids


def transfer_manual_labels(
    db, old_labels: list[dict], face_ids: list[int], faces: list[DetectedFace], version: ModelVersion  # noqa: ANN001
) -> int:
    """After an edited photo is analysed again, give each hand label to the new face most
    like the old one (one to one, closest first, within the same-person threshold)."""
    if not old_labels or not faces:
        return 0
    old = version.prepare(np.stack([blob_to_embedding(r["embedding"]) for r in old_labels]))
    new = version.prepare(np.stack([f.embedding for f in faces]))
    distances = np.linalg.norm(old[:, None, :] - new[None, :, :], axis=2)
    pairs = sorted((float(distances[i, j]), i, j) for i in range(len(old)) for j in range(len(new)))
    used_old, used_new, moved = set(), set(), 0
    for distance, i, j in pairs:
        if distance > version.threshold or i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        db.execute(
            "UPDATE faces SET person_id = ?, assignment = 'manual', distance = NULL WHERE id = ?",
            [old_labels[i]["person_id"], face_ids[j]],
        )
        moved += 1
    return moved
