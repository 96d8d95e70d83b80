"""People from faces: clustering the faces nobody labelled (recognising named people is in
recognition_pass.py, and runs at the end of every regroup).

What the user said is the only durable input: hand assignments ('manual'), rejections,
names, hidden flags.  Everything automatic ('auto', 'suggested') is derived from them and
the embeddings, and `cluster_library` recomputes all of it in one transaction, so it can be
re-run at any time and gives the same people for the same library.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from engine.jobs import CancelToken, Progress, ProgressCallback, no_progress
from engine.library.identities.clustering import FREE, ClusteringProblem, cluster_faces
from engine.library.storage.covers import refresh_covers
from engine.library.identities.doubtful_labels import DoubtfulLabel, doubtful_labels
from engine.library.storage.assignments import Assignment, write_assignments
from engine.library.storage.embeddings import WITH_VECTOR
from engine.library.identities.recognition_pass import recognize_faces
from engine.library.storage.store import Library, blob_to_embedding
from engine.library.identities.user_state import STATE_ATTEMPTS, StateChanged, read_snapshot, rejections_by_face, user_state
from engine.library.storage.model_registry import active_version
from engine.model_versions import ModelVersion

MIN_PERSON_FACES = 3  # smaller clusters stay "unsorted" rather than become tiny people


@dataclass(frozen=True)
class ClusterSummary:
    faces: int
    people: int  # people holding automatic faces after clustering
    new_people: int
    unsorted: int
    recognised: int
    suggested: int
    seconds: float
    questioned: int = 0  # faces named with their group that look like someone else: now asked about


def _load_faces(library: Library, version: ModelVersion) -> dict[str, np.ndarray]:
    rows = library.db.execute(
        "SELECT f.id, f.photo_id, e.embedding, f.person_id, f.assignment, f.confirmed, p.name IS NOT NULL "
        f"FROM faces f {WITH_VECTOR} LEFT JOIN people p ON p.id = f.person_id ORDER BY f.id",
        [version.name],
    ).fetchall()
    if not rows:
        empty = np.empty(0, np.int64)
        return {"id": empty, "photo": empty, "person": empty, "manual": np.empty(0, bool),
                "confirmed": np.empty(0, bool), "named": np.empty(0, bool),
                "vectors": np.empty((0, version.embedding_size), np.float32)}
    return {
        "id": np.array([r[0] for r in rows], dtype=np.int64),
        "photo": np.array([r[1] for r in rows], dtype=np.int64),
        "vectors": version.prepare(np.stack([blob_to_embedding(r[2]) for r in rows])),
        "person": np.array([r[3] if r[3] is not None else FREE for r in rows], dtype=np.int64),
        "manual": np.array([r[4] == Assignment.MANUAL for r in rows], dtype=bool),
        "confirmed": np.array([bool(r[5]) for r in rows], dtype=bool),
        "named": np.array([bool(r[6]) for r in rows], dtype=bool),
    }


def _stable_ids(library: Library, faces: dict, labels: np.ndarray, new_clusters: list[int]) -> dict[int, int]:
    """Give each new unnamed cluster the id of the automatic person it overlaps most."""
    old_auto = library.query(
        """
        SELECT f.id AS face, f.person_id AS person FROM faces f JOIN people p ON p.id = f.person_id
        WHERE f.assignment = 'auto' AND p.name IS NULL
          AND NOT EXISTS (SELECT 1 FROM faces m WHERE m.person_id = p.id AND m.assignment = 'manual')
        """
    )
    index_of = {int(face_id): i for i, face_id in enumerate(faces["id"].tolist())}
    wanted = set(new_clusters)
    overlap: dict[tuple[int, int], int] = {}
    for row in old_auto:
        i = index_of.get(row["face"])
        if i is not None and int(labels[i]) in wanted:
            key = (int(labels[i]), int(row["person"]))
            overlap[key] = overlap.get(key, 0) + 1
    chosen: dict[int, int] = {}
    used_people: set[int] = set()
    for (cluster, person), _count in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0])):
        if cluster in chosen or person in used_people:
            continue
        chosen[cluster] = person
        used_people.add(person)
    return chosen


def cluster_library(
    library: Library,
    version: ModelVersion | None = None,
    min_faces: int = MIN_PERSON_FACES,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ClusterSummary:
    """Regroup every face nobody labelled.  If the user edits the library while this
    computes, the result is thrown away and computed again from the new state (the last
    attempt holds the write lock while it computes, so it always finishes)."""
    started = time.monotonic()
    for _attempt in range(STATE_ATTEMPTS):
        try:
            return _cluster_once(library, version, min_faces, progress, cancel, started)
        except StateChanged:
            continue
    with library.atomic():
        return _cluster_once(library, version, min_faces, progress, cancel, started)


def _cluster_once(
    library: Library,
    version: ModelVersion | None,
    min_faces: int,
    progress: ProgressCallback,
    cancel: CancelToken | None,
    started: float,
) -> ClusterSummary:
    version = version or active_version(library)
    progress(Progress("grouping faces", 0, 2))
    with read_snapshot(library):  # one state for every read (WAL: writers go on meanwhile)
        read_state = user_state(library.db)
        faces = _load_faces(library, version)
        rejected = rejections_by_face(library)
    n = len(faces["id"])
    index_rejections = {
        i: frozenset(rejected[f]) for i, f in enumerate(faces["id"].tolist()) if f in rejected
    }
    doubtful = _doubtful(faces, version, index_rejections)
    seeds = np.where(faces["manual"], faces["person"], FREE)
    seeds[[d.index for d in doubtful]] = FREE  # a doubtful label must not pull faces into its group
    result = cluster_faces(
        ClusteringProblem(faces["vectors"], faces["photo"], seeds, index_rejections), version.cluster_linkage
    )
    progress(Progress("grouping faces", 1, 2))
    if cancel is not None:
        cancel.stop_if_cancelled(ClusterSummary(n, 0, 0, 0, 0, 0, time.monotonic() - started))
    sizes = result.sizes()
    centroids = np.zeros((result.clusters, faces["vectors"].shape[1] if n else 0), dtype=np.float64)
    if n:
        np.add.at(centroids, result.labels, faces["vectors"].astype(np.float64))
        centroids /= np.maximum(sizes, 1)[:, None]
    free_clusters = [
        c for c in range(result.clusters) if result.cluster_person[c] == FREE and sizes[c] >= min_faces
    ]
    new_people = 0
    with library.atomic() as db:
        if user_state(db) != read_state:
            raise StateChanged
        reuse = _stable_ids(library, faces, result.labels, free_clusters) if free_clusters else {}
        # Automatic faces are recomputed; a question about a face named with its group stays asked.
        db.execute("UPDATE faces SET person_id = NULL, assignment = NULL, distance = NULL "
                   "WHERE assignment != 'manual' AND asked_from IS NULL")
        person_of_cluster = {c: int(result.cluster_person[c]) for c in range(result.clusters) if result.cluster_person[c] != FREE}
        for cluster in free_clusters:
            if cluster in reuse:
                person_of_cluster[cluster] = reuse[cluster]
            else:
                person_of_cluster[cluster] = int(db.execute("INSERT INTO people(name) VALUES (NULL)").lastrowid)
                new_people += 1
        updates = []
        for i in np.flatnonzero(~faces["manual"]).tolist():
            cluster = int(result.labels[i])
            person = person_of_cluster.get(cluster)
            if person is None or person in rejected.get(int(faces["id"][i]), ()):
                continue  # unsorted, or a face the user said is not this (unnamed) person
            distance = float(np.linalg.norm(faces["vectors"][i] - centroids[cluster]))
            updates.append((person, distance, int(faces["id"][i])))
        # never over a hand label, whatever happened since the read
        write_assignments(db, [(person, Assignment.AUTO, distance, face) for person, distance, face in updates],
                          "assignment IS NULL")
        questioned = _ask_about_doubtful(db, faces, doubtful)
        _drop_empty_automatic_people(db)
        recognition = recognize_faces(library, version, only_unassigned=True)
        refresh_covers(db)
    progress(Progress("grouping faces", 2, 2))
    unsorted = library.scalar(f"SELECT count(*) FROM faces f {WITH_VECTOR} WHERE f.person_id IS NULL", [version.name])
    people = library.scalar("SELECT count(DISTINCT person_id) FROM faces WHERE assignment = 'auto'")
    return ClusterSummary(
        faces=n,
        people=int(people or 0),
        new_people=new_people,
        unsorted=int(unsorted or 0),
        recognised=recognition.assigned,
        suggested=recognition.suggested,
        seconds=time.monotonic() - started,
        questioned=questioned,
    )


def _doubtful(faces: dict, version: ModelVersion, index_rejections: dict) -> list[DoubtfulLabel]:
    """The faces named only with their group that the other labels say are someone else
    (doubtful_labels.py); indices into `faces`."""
    labelled = np.flatnonzero(faces["manual"] & faces["named"])
    found = doubtful_labels(
        faces["vectors"][labelled], faces["person"][labelled], faces["confirmed"][labelled], version,
        {j: index_rejections[int(i)] for j, i in enumerate(labelled) if int(i) in index_rejections},
    )
    return [replace(d, index=int(labelled[d.index])) for d in found]


def _ask_about_doubtful(db, faces: dict, doubtful: list[DoubtfulLabel]) -> int:  # noqa: ANN001
    """Each doubtful face becomes a question for the person it looks like, unless that person
    is already in its photo.  Only over the state read: still named with its group, by the same person."""
    shown = set(db.execute("SELECT photo_id, person_id FROM faces WHERE person_id IS NOT NULL").fetchall())
    asked = 0
    for d in sorted(doubtful, key=lambda d: d.distance):
        face, photo = int(faces["id"][d.index]), int(faces["photo"][d.index])
        if (photo, d.likely) in shown:
            continue  # a person appears once per photo: that face stays as it was named
        asked += db.execute(
            "UPDATE faces SET person_id = ?, assignment = 'suggested', distance = ?, asked_from = person_id "
            "WHERE id = ? AND assignment = 'manual' AND confirmed = 0 AND person_id = ?",
            [d.likely, d.distance, face, d.named],
        ).rowcount
        shown.add((photo, d.likely))
    return asked


def _drop_empty_automatic_people(db) -> None:  # noqa: ANN001
    """Unnamed, visible people left without any face were only ever a cluster, unless the user
    rejected a face from them: deleting them would delete what the user said."""
    db.execute(
        "DELETE FROM people WHERE name IS NULL AND hidden = 0 AND NOT EXISTS (SELECT 1 FROM faces f WHERE f.person_id = people.id) "
        "AND NOT EXISTS (SELECT 1 FROM rejections r WHERE r.person_id = people.id)"
    )


