"""Writing detected faces, and carrying hand labels over when a photo is analysed again."""

from __future__ import annotations

import numpy as np

from engine.library.storage.embeddings import copy_vectors, store_vectors
from engine.library.storage.store import blob_to_embedding
from engine.model_versions import ModelVersion
from engine.faces.pipeline import DetectedFace


def insert_faces(db, photo_id: int, faces: list[DetectedFace], model_version: str) -> list[int]:  # noqa: ANN001
    ids = []
    for face in faces:
        if face.embedding is None:
            raise ValueError("faces are stored with their embeddings")
        cursor = db.execute(
            "INSERT INTO faces(photo_id, x1, y1, x2, y2, score, landmarks) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                photo_id,
                *(float(v) for v in face.box),
                float(face.score),
                np.asarray(face.landmarks, dtype="<f4").tobytes(),
            ],
        )
        ids.append(int(cursor.lastrowid))
    store_vectors(db, [(face_id, model_version, face.embedding) for face_id, face in zip(ids, faces, strict=True)])
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
            "UPDATE faces SET person_id = ?, assignment = 'manual', distance = NULL, confirmed = ?, named_from = ? "
            "WHERE id = ?",
            [old_labels[i]["person_id"], old_labels[i].get("confirmed", 1), old_labels[i].get("named_from"), face_ids[j]],
        )
        moved += 1
    return moved


def copy_faces(db, source_photo: int, target_photo: int) -> None:  # noqa: ANN001
    """Give a byte-identical copy of a photo the source's faces with everything the user said
    about them: person, confirmation and rejections (a rejection follows its face's content)."""
    source_faces = [r[0] for r in db.execute("SELECT id FROM faces WHERE photo_id = ? ORDER BY id", [source_photo])]
    for face_id in source_faces:
        cursor = db.execute(
            "INSERT INTO faces(photo_id, x1, y1, x2, y2, score, landmarks, person_id, "
            "assignment, distance, confirmed, named_from, asked_from) SELECT ?, x1, y1, x2, y2, score, landmarks, "
            "person_id, assignment, distance, confirmed, named_from, asked_from "
            "FROM faces WHERE id = ?",
            [target_photo, face_id],
        )
        new_id = cursor.lastrowid
        db.execute(
            "INSERT OR IGNORE INTO rejections(face_id, person_id) SELECT ?, person_id FROM rejections WHERE face_id = ?",
            [new_id, face_id],
        )
        copy_vectors(db, face_id, new_id)
