"""Libraries filled with generated faces (no model needed) for fast tests of people logic."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from engine.library.edits import editing
from engine.library.identities.grouping import cluster_library

from engine.library.storage.store import Library, LibraryError, embedding_to_blob
from engine.model_versions import DLIB_RESNET_V1


def identity_vectors(people: int, per_person: int, seed: int = 0, spread: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Vectors shaped like the model's (norm about 2), same-person distance ~0.5, others ~2.8."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 128))
    centres *= 2.0 / np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(people), per_person)
    return (centres[labels] + rng.normal(scale=spread, size=(len(labels), 128))).astype(np.float32), labels


def fill_library(library: Library, vectors: np.ndarray, photo_of_face: list[int] | None = None) -> list[int]:
    """One photo per face unless `photo_of_face` groups them; returns face ids in order."""
    photo_of_face = photo_of_face if photo_of_face is not None else list(range(len(vectors)))
    face_ids = []
    with library.atomic() as db:
        folder = db.execute("INSERT INTO folders(path) VALUES ('/synthetic')").lastrowid
        photo_ids = {}
        for p in sorted(set(photo_of_face)):
            photo_ids[p] = db.execute(
                "INSERT INTO photos(path, folder_id, size, mtime_ns, status, width, height) VALUES (?, ?, 1, 1, 'done', 100, 100)",
                [f"/synthetic/photo{p:05d}.jpg", folder],
            ).lastrowid
        for i, vector in enumerate(vectors):
            face_ids.append(add_face_row(db, photo_ids[photo_of_face[i]], vector, box=(10, 10, 50, 50)))
    return face_ids


def add_face_row(db, photo_id: int, vector: np.ndarray, version: str = DLIB_RESNET_V1.name,  # noqa: ANN001
                 box: tuple = (0, 0, 9, 9)) -> int:
    """A face row and its vector under `version`, as the scan stores them."""
    face_id = db.execute("INSERT INTO faces(photo_id, x1, y1, x2, y2, score) VALUES (?, ?, ?, ?, ?, 1)",
                         [photo_id, *box]).lastrowid
    db.execute("INSERT INTO face_embeddings(face_id, model_version, embedding) VALUES (?, ?, ?)",
               [face_id, version, embedding_to_blob(np.asarray(vector, np.float32))])
    return face_id


def fill_library_more(library: Library, vectors: np.ndarray) -> list[int]:
    """Faces in photos of their own, outside any folder and not grouped; their ids."""
    ids = []
    with library.atomic() as db:
        for i, vector in enumerate(vectors):
            photo = db.execute(
                "INSERT INTO photos(path, size, mtime_ns, status) VALUES (?, 1, 1, 'done')", [f"/more/{i}.jpg"]
            ).lastrowid
            ids.append(add_face_row(db, photo, vector))
    return ids


def assignments(library: Library) -> dict[int, tuple]:
    return {r["id"]: (r["person_id"], r["assignment"]) for r in library.query("SELECT id, person_id, assignment FROM faces")}


def table_state(library: Library) -> tuple:
    return (
        library.query("SELECT id, person_id, assignment, distance FROM faces ORDER BY id"),
        library.query("SELECT id, name, hidden FROM people ORDER BY id"),
        library.query("SELECT face_id, person_id FROM rejections ORDER BY face_id, person_id"),
    )


EDITS = st.lists(
    st.tuples(st.sampled_from(["name", "merge", "move", "reject", "confirm", "hide", "notface", "undo", "redo",
                               "recluster"]),
              st.integers(0, 17), st.integers(0, 17)),
    min_size=1, max_size=12,
)


def apply_edits(library: Library, ids: list[int], edits: list[tuple[str, int, int]]) -> None:
    """What a user might do, drawn by Hypothesis: (action, face index, other face index)."""
    names = iter(f"Person {i}" for i in range(100))
    for action, x, y in edits:
        face = ids[x]
        now = assignments(library)  # a face removed as "not a face" is simply absent
        person = now.get(ids[y], (None, None))[0]
        face_person = now.get(face, (None, None))[0]
        try:
            if action == "name" and person is not None:
                editing.name_person(library, person, next(names))
            elif action == "merge" and person is not None:
                if face_person is not None and face_person != person:
                    editing.merge_people(library, [face_person], into=person)
            elif action == "move":
                target = person if person is not None else editing.create_person(library, next(names))
                editing.move_face(library, face, target)
            elif action == "reject" and face_person is not None:
                editing.reject_face(library, face)
            elif action == "confirm" and face_person is not None:
                editing.confirm_face(library, face)
            elif action == "hide" and person is not None:
                editing.hide_person(library, person)
            elif action == "notface" and face in now:
                editing.not_a_face(library, [face])
            elif action == "undo":
                editing.undo(library)
            elif action == "redo":
                editing.redo(library)
            elif action == "recluster":
                cluster_library(library)
        except LibraryError:
            pass


def user_labels(library: Library) -> tuple:
    """Everything the user said: hand labels, named/hidden people, rejections."""
    return (
        {f: pa for f, pa in assignments(library).items() if pa[1] == "manual"},
        library.query("SELECT id, name, hidden FROM people WHERE name IS NOT NULL OR hidden = 1 ORDER BY id"),
        library.query("SELECT face_id, person_id FROM rejections ORDER BY face_id, person_id"),
    )
