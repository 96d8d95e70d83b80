"""The user's hand-labelled faces as training data: their face chips cut again from the
photos (the library keeps landmarks and embeddings, not pixels), exactly as the scan cut
them, so fine-tuning sees what the embedding saw."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from engine.faces.alignment import extract_face_chips
from engine.errors import ImageLoadError
from engine.jobs import CancelToken, Progress, ProgressCallback, no_progress
from engine.library.identities.doubtful_labels import doubtful_labels
from engine.library.storage.store import Library, LibraryError, blob_to_embedding
from engine.model_versions import ModelVersion
from engine.wording import names_in_words
from engine.user_files import from_stored_path

if TYPE_CHECKING:  # the window checks labels with this module: it must not load torch
    from engine.training.data import FaceSet, KnownNegatives

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
        SELECT f.id, f.landmarks, f.person_id, p.name, ph.path, ph.width, e.embedding, f.confirmed, f.photo_id
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


# Known negatives beyond this many per labelled face are left out: they cost decoding and
# trunk passes, and a batch uses only a few of them.
MAX_NEGATIVES_PER_FACE = 1.0


def known_negative_rows(library: Library, faces: list[dict]) -> dict[int, dict]:
    """Faces outside `faces` (the training rows) known not to be some of their people: a face
    rejected for a named person, and any other face in a photo with a labelled face (one
    photo's faces are different people).  face id -> row with `not_people` (names)."""
    names = {r["name"] for r in faces}
    taken = {r["id"] for r in faces}
    nots: dict[int, set[str]] = {}
    for face_id, name in library.db.execute(
            "SELECT r.face_id, p.name FROM rejections r JOIN people p ON p.id = r.person_id WHERE p.name IS NOT NULL"):
        if name in names and face_id not in taken:
            nots.setdefault(face_id, set()).add(name)
    in_photo: dict[int, set[str]] = {}
    for row in faces:
        in_photo.setdefault(row["photo_id"], set()).add(row["name"])
    for face_id, photo_id in library.db.execute("SELECT id, photo_id FROM faces WHERE landmarks IS NOT NULL"):
        if photo_id in in_photo and face_id not in taken:
            nots.setdefault(face_id, set()).update(in_photo[photo_id])
    rows = {}
    for chunk_start in range(0, len(nots), 500):
        chunk = list(nots)[chunk_start : chunk_start + 500]
        marks = ",".join("?" * len(chunk))
        for row in library.query(f"SELECT f.id, f.landmarks, ph.path, ph.width FROM faces f JOIN photos ph ON "
                                 f"ph.id = f.photo_id WHERE f.landmarks IS NOT NULL AND f.id IN ({marks})", chunk):
            rows[row["id"]] = {**row, "not_people": frozenset(nots[row["id"]])}
    return rows


def cut_chips(pipeline, rows: list[dict], progress: ProgressCallback = no_progress,  # noqa: ANN001
              cancel: CancelToken | None = None) -> dict[int, np.ndarray]:
    """face id -> chip, each photo decoded once; photos moved or deleted since the scan are skipped."""
    by_photo: dict[str, list[dict]] = {}
    for row in rows:
        by_photo.setdefault(from_stored_path(row["path"]), []).append(row)
    chips = {}
    started = time.monotonic()
    for done, (path, faces) in enumerate(by_photo.items()):
        if cancel is not None:
            cancel.stop_if_cancelled()
        if done:
            left = (time.monotonic() - started) / done * (len(by_photo) - done)
            progress(Progress("reading your named faces", done, len(by_photo), path, eta_seconds=left))
        try:
            cut = photo_face_chips(pipeline, path, faces)
        except ImageLoadError:
            continue
        chips.update((face["id"], chip) for face, chip in zip(faces, cut, strict=True))
    return chips


def labelled_face_set(library: Library, pipeline, min_people: int = MIN_PEOPLE, min_faces: int = MIN_FACES_PER_PERSON) -> FaceSet:  # noqa: ANN001
    """Chips of every hand-labelled face of a named person with >= `min_faces` of them, but
    the doubtful ones.
    Each photo is decoded once, as the scan decoded it (`pipeline.decode`)."""
    return training_faces(library, pipeline, min_people, min_faces, negatives=False)[0]


def training_faces(library: Library, pipeline, min_people: int = MIN_PEOPLE, min_faces: int = MIN_FACES_PER_PERSON,  # noqa: ANN001
                   negatives: bool = True, seed: int = 0, progress: ProgressCallback = no_progress,
                   cancel: CancelToken | None = None) -> tuple[FaceSet, KnownNegatives | None]:
    """The labelled faces (`labelled_face_set`), which of them the user corrected one by one,
    and (with `negatives`) the faces known not to be some of them, at most about one per
    labelled face (rejections first, then a random draw of the same-photo faces)."""
    from engine.training.data import FaceSet, KnownNegatives

    rows = without_doubtful(labelled_face_rows(library, pipeline.model_version.name), pipeline.model_version, library)
    check_enough_labels(rows, min_people, min_faces)
    counts: dict[int, int] = {}
    for row in rows:
        counts[row["person_id"]] = counts.get(row["person_id"], 0) + 1
    rows = [r for r in rows if counts[r["person_id"]] >= min_faces]
    extra = known_negative_rows(library, rows) if negatives else {}
    if len(extra) > MAX_NEGATIVES_PER_FACE * len(rows):
        rejected = {f for f, _ in library.db.execute("SELECT face_id, person_id FROM rejections")}
        ordered = sorted(extra, key=lambda f: (f not in rejected, np.random.default_rng([seed, f]).random()))
        extra = {f: extra[f] for f in ordered[: int(MAX_NEGATIVES_PER_FACE * len(rows))]}
    chips = cut_chips(pipeline, [*rows, *extra.values()], progress, cancel)
    people = sorted({(r["name"], r["person_id"]) for r in rows})
    index = {person_id: i for i, (_, person_id) in enumerate(people)}
    kept = [r for r in rows if r["id"] in chips]
    faces = FaceSet(np.stack([chips[r["id"]] for r in kept]), np.array([index[r["person_id"]] for r in kept], dtype=np.int64),
                    [name for name, _ in people], [from_stored_path(r["path"]) for r in kept], 0, [r["id"] for r in kept],
                    np.array([bool(r["confirmed"]) for r in kept], dtype=bool))
    if not negatives:
        return faces, None
    found = [f for f in extra if f in chips]
    rejected = {f for (f,) in library.db.execute("SELECT face_id FROM rejections").fetchall()}
    known = KnownNegatives(np.stack([chips[f] for f in found]) if found else np.zeros((0, 150, 150, 3), np.uint8),
                           [extra[f]["not_people"] for f in found], found, np.array([f in rejected for f in found], bool))
    return faces, known
