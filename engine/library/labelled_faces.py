"""The user's hand-labelled faces as training data: their face chips cut again from the
photos (the library keeps landmarks and embeddings, not pixels), exactly as the scan cut
them, so fine-tuning sees what the embedding saw."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.faces.alignment import extract_face_chips
from engine.errors import ImageLoadError
from engine.library.doubtful_labels import doubtful_labels
from engine.library.store import Library, LibraryError, blob_to_embedding
from engine.model_versions import ModelVersion
from engine.wording import names_in_words
from engine.user_files import from_stored_path

if TYPE_CHECKING:  # the window checks labels with this module: it must not load torch
    from engine.training.data import FaceSet

MIN_PEOPLE = 2
MIN_FACES_PER_PERSON = 5


def photo_face_chips(pipeline, path: str, faces: list[dict]) -> np.ndarray:  # noqa: ANN001
    """The chips of stored faces (rows with `landmarks` and the photo's displayed `width`),
    cut from the photo decoded as the scan decoded it.  Raises ImageLoadError."""
    photo = pipeline.decode(path)
    scale = photo.rgb.shape[1] / photo.width
    points = np.stack([np.frombuffer(f["landmarks"], dtype="<f4").reshape(5, 2).astype(np.float64) for f in faces])
    return extract_face_chips(photo.rgb, (points + 0.5) * scale - 0.5)


def photo_faces_embedder(pipeline):  # noqa: ANN001, ANN201
    """For model switches: stored faces of one photo -> embeddings by `pipeline`'s model."""
    return lambda path, faces: pipeline.embed_chips(photo_face_chips(pipeline, path, faces))


def labelled_face_rows(library: Library, model_version: str) -> list[dict]:
    return library.query(
        """
        SELECT f.id, f.landmarks, f.person_id, p.name, ph.path, ph.width, e.embedding, f.confirmed
        FROM faces f JOIN face_embeddings e ON e.face_id = f.id AND e.model_version = ?
        JOIN people p ON p.id = f.person_id JOIN photos ph ON ph.id = f.photo_id
        WHERE f.assignment = 'manual' AND p.name IS NOT NULL AND f.landmarks IS NOT NULL
        ORDER BY ph.path, f.id
        """,
        [model_version],
    )


def without_doubtful(rows: list[dict], version: ModelVersion, library: Library) -> list[dict]:
    """Leave out the faces named with their group that the other labels say are someone else
    (doubtful_labels.py): a wrong label the user never looked at would teach the model wrong."""
    if not rows:
        return rows
    rejected: dict[int, set[int]] = {}
    for face_id, person_id in library.db.execute("SELECT face_id, person_id FROM rejections").fetchall():
        rejected.setdefault(face_id, set()).add(person_id)
    found = doubtful_labels(
        version.prepare(np.stack([blob_to_embedding(r["embedding"]) for r in rows])),
        np.array([r["person_id"] for r in rows], dtype=np.int64),
        np.array([bool(r["confirmed"]) for r in rows]),
        version,
        {i: rejected[r["id"]] for i, r in enumerate(rows) if r["id"] in rejected},
    )
    left_out = {d.index for d in found}
    return [r for i, r in enumerate(rows) if i not in left_out]


def check_enough_labels(rows: list[dict], min_people: int = MIN_PEOPLE, min_faces: int = MIN_FACES_PER_PERSON) -> None:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["name"]] = counts.get(row["name"], 0) + 1
    ready = [name for name, n in counts.items() if n >= min_faces]
    if len(ready) < min_people:
        needed = f"Fine-tuning learns from the people you named: it needs at least {min_people} people with {min_faces} or more named faces each."
        if not counts:
            raise LibraryError(f"{needed} No faces are named yet.")
        have = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        short = [name for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n < min_faces][:3]
        more = f" Name more faces of {names_in_words(short)}, or name more people." if short else " Name more people."
        raise LibraryError(f"{needed} Named faces so far: {have}.{more}")


def labelled_face_set(library: Library, pipeline, min_people: int = MIN_PEOPLE, min_faces: int = MIN_FACES_PER_PERSON) -> FaceSet:  # noqa: ANN001
    """Chips of every hand-labelled face of a named person with >= `min_faces` of them, but
    the doubtful ones.
    Each photo is decoded once, as the scan decoded it (`pipeline.decode`)."""
    from engine.training.data import FaceSet

    rows = without_doubtful(labelled_face_rows(library, pipeline.model_version.name), pipeline.model_version, library)
    check_enough_labels(rows, min_people, min_faces)
    counts: dict[int, int] = {}
    for row in rows:
        counts[row["person_id"]] = counts.get(row["person_id"], 0) + 1
    rows = [r for r in rows if counts[r["person_id"]] >= min_faces]
    people = sorted({(r["name"], r["person_id"]) for r in rows})
    index = {person_id: i for i, (_, person_id) in enumerate(people)}
    chips, labels, paths, face_ids = [], [], [], []
    by_photo: dict[str, list[dict]] = {}
    for row in rows:
        by_photo.setdefault(from_stored_path(row["path"]), []).append(row)
    for path, faces in by_photo.items():
        try:
            cut = photo_face_chips(pipeline, path, faces)
        except ImageLoadError:
            continue  # moved or deleted since the scan: skipped, counted by the caller
        for face, chip in zip(faces, cut, strict=True):
            chips.append(chip)
            labels.append(index[face["person_id"]])
            paths.append(path)
            face_ids.append(face["id"])
    return FaceSet(np.stack(chips), np.array(labels, dtype=np.int64), [name for name, _ in people], paths, 0, face_ids)
