"""The library's model versions: which one is active, where fine-tuned ones live, and what
a switch must embed first (the switch itself: engine.library.jobs.model_switch).

Every face's vector under every version it was embedded with lives in `face_embeddings`;
the active version is a setting.  Embedding for a version is batched, committed as it goes,
resumable and cancellable; faces and people are never touched by it.  Hand labels, names,
merges and rejections live on face and person rows, which no switch changes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from engine.errors import ImageLoadError
from engine.jobs import CancelToken, Progress, ProgressCallback, no_progress
from engine.library.storage.store import Library, LibraryError, embedding_to_blob
from engine.model_versions import DEFAULT_VERSION, MODEL_VERSIONS, ModelVersion
from engine.paths import hold_lock, remove_if_unheld
from engine.user_files import from_stored_path

log = logging.getLogger(__name__)

ACTIVE_KEY = "active_model"
MODELS_FOLDER = "models"  # next to the database, so a library folder moves as a whole

# Face rows (id, photo path, displayed width, landmarks blob) of one photo -> their embeddings.
PhotoFacesEmbedder = Callable[[str, list[dict]], np.ndarray]


@dataclass(frozen=True)
class ModelRecord:
    name: str
    parent: str | None
    file: str | None
    created_at: str | None
    active: bool
    faces: int  # faces whose embedding under this version is stored
    report: dict | None


@dataclass
class SwitchSummary:
    version: str
    embedded: int  # faces embedded now
    reused: int  # faces whose embedding under the version was already stored
    left_out: int  # faces whose photo could not be read: they keep their labels and old embedding
    seconds: float = 0.0


def version_to_json(version: ModelVersion) -> str:
    return json.dumps(asdict(version))


def version_from_json(text: str) -> ModelVersion:
    return ModelVersion(**json.loads(text))


def active_name(library: Library) -> str:
    """The chosen version; a library that never chose keeps the version its faces were
    embedded with (libraries from before a newer default), and a new one takes the default."""
    chosen = library.scalar("SELECT value FROM settings WHERE key = ?", [ACTIVE_KEY])
    return chosen or library.scalar("SELECT model_version FROM face_embeddings LIMIT 1") or DEFAULT_VERSION.name


def version_named(library: Library, name: str) -> ModelVersion:
    if name in MODEL_VERSIONS:
        return MODEL_VERSIONS[name]
    text = library.scalar("SELECT version FROM model_versions WHERE name = ?", [name])
    if text is None:
        known = ", ".join(r.name for r in list_models(library))
        raise LibraryError(f"no model version {name!r} in this library (known: {known})")
    return version_from_json(text)


def active_version(library: Library) -> ModelVersion:
    return version_named(library, active_name(library))


def model_file(library: Library, name: str) -> Path | None:
    """The fine-tuned network's file, None for a built-in version."""
    if name in MODEL_VERSIONS:
        return None
    relative = library.scalar("SELECT file FROM model_versions WHERE name = ?", [name])
    if relative is None:
        raise LibraryError(f"no model version {name!r} in this library")
    return library.path.parent / relative


def pipeline_for(library: Library, name: str | None = None, settings=None):  # noqa: ANN001, ANN201
    """A FacePipeline embedding with version `name` (default: the active one)."""
    from engine.faces.pipeline import DetectionSettings, FacePipeline

    name = name or active_name(library)
    path = model_file(library, name)
    if path is None:
        return FacePipeline(settings or DetectionSettings(), model_version=MODEL_VERSIONS[name])
    from engine.training.model_file import ModelFileEmbedder, load_model_file

    return FacePipeline(settings or DetectionSettings(), embedder=ModelFileEmbedder(load_model_file(path)))


def models_folder(library: Library) -> Path:
    return library.path.parent / MODELS_FOLDER


CANDIDATE_SUFFIX = ".candidate.pt"  # a fine-tuned model the user has not accepted yet


def hold_candidate(candidate: str | Path):  # noqa: ANN201 - an open file; closing it lets go
    """Keep a candidate from remove_orphan_candidates while the user decides on it: the
    returned file holds a shared lock until it is closed."""
    handle = open(candidate, "rb")  # noqa: SIM115 - held open on purpose
    hold_lock(handle.fileno(), shared=True)
    return handle


def remove_orphan_candidates(library: Library) -> int:
    """Candidates and their temporaries that nobody holds: left by a fine-tune killed while
    it saved, or by a window closed while it asked (22 MB each).  How many were removed."""
    folder = models_folder(library)
    if not folder.is_dir():
        return 0
    leftovers = [*folder.glob(f"*{CANDIDATE_SUFFIX}"), *folder.glob(f".*{CANDIDATE_SUFFIX}.*.tmp")]
    removed = sum(remove_if_unheld(path) for path in leftovers)
    if removed:
        log.info("removed %d unfinished fine-tuned model file(s) from %s", removed, folder)
    return removed


def register_model(library: Library, version: ModelVersion, parent: str, file: Path, report: dict | None) -> None:
    relative = file.relative_to(library.path.parent).as_posix()
    with library.atomic() as db:
        db.execute(
            "INSERT INTO model_versions(name, parent, file, version, report) VALUES (?, ?, ?, ?, ?)",
            [version.name, parent, relative, version_to_json(version), json.dumps(report) if report else None],
        )


def list_models(library: Library) -> list[ModelRecord]:
    active = active_name(library)
    counts = {r["v"]: r["n"] for r in library.query("SELECT model_version v, count(*) n FROM face_embeddings GROUP BY v")}
    records = [ModelRecord(v.name, None, None, None, v.name == active, counts.get(v.name, 0), None)
               for v in MODEL_VERSIONS.values()]
    for row in library.query("SELECT name, parent, file, created_at, report FROM model_versions ORDER BY created_at, name"):
        records.append(ModelRecord(row["name"], row["parent"], row["file"], row["created_at"], row["name"] == active,
                                   counts.get(row["name"], 0), json.loads(row["report"]) if row["report"] else None))
    return records


MISSING_VECTORS_SQL = (
    "SELECT f.id FROM faces f WHERE f.landmarks IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM face_embeddings e WHERE e.face_id = f.id AND e.model_version = ?)"
)


def faces_to_embed(library: Library, name: str) -> list[dict]:
    """Faces with no embedding under `name` yet, grouped by photo (ordered by path)."""
    return library.query(
        """
        SELECT f.id, f.landmarks, ph.path, ph.width FROM faces f JOIN photos ph ON ph.id = f.photo_id
        WHERE f.landmarks IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM face_embeddings e WHERE e.face_id = f.id AND e.model_version = ?)
        ORDER BY ph.path, f.id
        """,
        [name],
    )


def embed_missing(
    library: Library,
    name: str,
    embed_photo_faces: PhotoFacesEmbedder,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    batch_photos: int = 16,
    unreadable_ids: set[int] | None = None,
) -> tuple[int, int, bool]:
    """Embed every face that lacks an embedding under `name` into `face_embeddings`,
    committing every `batch_photos` photos.  Returns (embedded, unreadable, cancelled).
    Faces in `unreadable_ids` are not tried again; those whose photo cannot be read now
    are added to it."""
    cancel = cancel or CancelToken()
    skipped = unreadable_ids if unreadable_ids is not None else set()
    by_photo: dict[str, list[dict]] = {}
    for row in faces_to_embed(library, name):
        if row["id"] not in skipped:
            by_photo.setdefault(from_stored_path(row["path"]), []).append(row)
    embedded = unreadable = 0
    pending: list[tuple[int, str, bytes]] = []
    started = time.monotonic()

    def commit() -> None:
        with library.atomic() as db:
            db.conn.executemany(
                "INSERT OR REPLACE INTO face_embeddings(face_id, model_version, embedding) VALUES (?, ?, ?)", pending
            )
        pending.clear()

    for done, (path, rows) in enumerate(by_photo.items(), start=1):
        if cancel.cancelled:
            commit()
            return embedded, unreadable, True
        try:
            vectors = embed_photo_faces(path, rows)
        except ImageLoadError:
            unreadable += len(rows)
            skipped.update(row["id"] for row in rows)
            continue
        pending += [(row["id"], name, embedding_to_blob(v)) for row, v in zip(rows, vectors, strict=True)]
        embedded += len(rows)
        if done % batch_photos == 0:
            commit()
        per_photo = (time.monotonic() - started) / done
        progress(Progress("re-embedding faces", done, len(by_photo), path, eta_seconds=per_photo * (len(by_photo) - done)))
    commit()
    return embedded, unreadable, False
