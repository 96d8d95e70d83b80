"""People from faces: clustering the faces nobody labelled, recognising named people.

What the user said is the only durable input: hand assignments ('manual'), rejections,
names, hidden flags.  Everything automatic ('auto', 'suggested') is derived from them and
the embeddings, and `cluster_library` recomputes all of it in one transaction, so it can be
re-run at any time and gives the same people for the same library.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from engine.jobs import CancelToken, Progress, ProgressCallback, no_progress
from engine.library.clustering import FREE, ClusteringProblem, cluster_faces
from engine.library.covers import refresh_covers
from engine.library.doubtful_labels import DoubtfulLabel, doubtful_labels
from engine.library.recognition import recognise
from engine.library.recognition_memory import RecognitionMemory
from engine.library.assignments import IN_NO_PERSON, NOT_BY_HAND, Assignment, faces_where, write_assignments
from engine.library.embeddings import WITH_VECTOR
from engine.library.store import Library, blob_to_embedding
from engine.library.model_registry import active_version
from engine.model_versions import ModelVersion

MIN_PERSON_FACES = 3  # smaller clusters stay "unsorted" rather than become tiny people
STATE_ATTEMPTS = 3  # regroups computed before the last one is computed under the write lock


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


@dataclass(frozen=True)
class RecognitionSummary:
    considered: int
    assigned: int
    suggested: int


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


def _rejections(library: Library) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for face_id, person_id in library.db.execute("SELECT face_id, person_id FROM rejections").fetchall():
        out.setdefault(face_id, set()).add(person_id)
    return out


def user_state(db) -> bytes:  # noqa: ANN001
    """A digest of everything the user said that grouping and recognition read: hand
    labels, rejections, people and their names.  A regroup that computed from one state
    applies its result only if the state is still the same when it writes (an edit made
    meanwhile in another process or thread must never be overwritten)."""
    digest = hashlib.blake2b(digest_size=16)
    for sql in (  # each state as one text, built by SQLite (10^5 rows in Python took 0.15 s)
        "SELECT group_concat(id || ':' || person_id || ':' || confirmed, ',') FROM "
        "(SELECT id, person_id, confirmed FROM faces WHERE assignment = 'manual' ORDER BY id)",
        "SELECT group_concat(face_id || ':' || person_id, ',') FROM "
        "(SELECT face_id, person_id FROM rejections ORDER BY face_id, person_id)",
        "SELECT group_concat(id || ':' || hidden || ':' || quote(name), ',') FROM "
        "(SELECT id, name, hidden FROM people ORDER BY id)",
    ):
        digest.update((db.execute(sql).fetchone()[0] or "").encode())
        digest.update(b"|")
    return digest.digest()


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


class _StateChanged(Exception):
    """The user edited the library while a regroup was computing."""


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
        except _StateChanged:
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
    with _read_snapshot(library):  # one state for every read (WAL: writers go on meanwhile)
        read_state = user_state(library.db)
        faces = _load_faces(library, version)
        rejected = _rejections(library)
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
            raise _StateChanged
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


def recognize_faces(
    library: Library, version: ModelVersion | None = None, only_unassigned: bool = True,
    memory: RecognitionMemory | None = None,
) -> RecognitionSummary:
    """k-NN over the hand-labelled faces of named people.  A face is assigned ('auto') when
    its nearest labelled faces agree and are within `auto_assign_distance`; suggested when
    the winner is within `threshold`; left alone otherwise (unknown).  With the `memory` of
    the last pass (kept by a long-lived caller), only the faces whose answer can have changed
    since are looked at again (recognition_memory.py)."""
    version = version or active_version(library)
    memory = memory if memory is not None and only_unassigned else RecognitionMemory()
    for _attempt in range(STATE_ATTEMPTS):
        try:
            return _recognize_once(library, version, only_unassigned, memory)
        except _StateChanged:
            continue
    with library.atomic():  # the last attempt decides under the write lock: nothing can change
        return _recognize_once(library, version, only_unassigned, memory)


def _recognize_once(library: Library, version: ModelVersion, only_unassigned: bool,
                    memory: RecognitionMemory) -> RecognitionSummary:
    with _read_snapshot(library):
        read_state = user_state(library.db)
        plan = _recognition_plan(library, version, only_unassigned, memory)
    if plan.decisions:
        with library.atomic() as db:
            if user_state(db) != read_state:
                raise _StateChanged
            summary = _apply_recognition(db, plan.considered, plan.decisions, plan.taken, only_unassigned)
    else:
        summary = RecognitionSummary(plan.considered, 0, 0)
    memory.remember(version, plan.references, plan.unassigned, plan.rejections)
    return summary


@contextmanager
def _read_snapshot(library: Library) -> Iterator[None]:
    """Reads that see one state of the library (a deferred transaction; WAL lets writers go on)."""
    db = library.db
    if db.conn.in_transaction:  # already inside the caller's transaction
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        if db.conn.in_transaction:
            db.execute("COMMIT")


@dataclass(frozen=True)
class _Plan:
    considered: int  # faces looked at
    decisions: list  # (distance, face, photo, person, level), surest first
    taken: set  # (photo, person) pairs already shown
    references: dict[int, int]  # what the plan read, for the memory
    unassigned: list[int]
    rejections: frozenset[tuple[int, int]]


def _recognition_plan(library: Library, version: ModelVersion, only_unassigned: bool,
                      memory: RecognitionMemory) -> _Plan:
    db = library.db
    refs = db.execute(
        f"SELECT f.id, f.person_id FROM faces f {WITH_VECTOR} JOIN people p ON p.id = f.person_id "
        "WHERE f.assignment = 'manual' AND p.name IS NOT NULL ORDER BY f.id",
        [version.name],
    ).fetchall()
    references = {face: person for face, person in refs}
    condition = "f.person_id IS NULL" if only_unassigned else "(f.assignment IS NULL OR f.assignment != 'manual')"
    queries = db.execute(
        f"SELECT f.id, f.photo_id FROM faces f {WITH_VECTOR} WHERE {condition} ORDER BY f.id", [version.name]
    ).fetchall()
    rejected = _rejections(library)
    rejections = frozenset((face, person) for face, people in rejected.items() for person in people)
    query_ids = [q[0] for q in queries]
    look = memory.to_look_at(library, version, references, query_ids, rejections)
    if look is not None:
        queries = [q for q in queries if q[0] in look]
    if not refs or not queries:
        return _Plan(len(queries), [], set(), references, query_ids, rejections)
    # A person appears at most once per photo.
    if look is None:
        taken = set(db.execute("SELECT photo_id, person_id FROM faces WHERE person_id IS NOT NULL").fetchall())
    else:
        photos = sorted({q[1] for q in queries})
        taken = set()
        for start in range(0, len(photos), 500):
            part = photos[start : start + 500]
            taken |= set(db.execute(f"SELECT photo_id, person_id FROM faces WHERE person_id IS NOT NULL AND photo_id IN "
                                    f"({','.join('?' * len(part))})", part).fetchall())
    found = recognise(
        memory.reference_vectors(library, version, references),
        np.array(list(references.values()), dtype=np.int64),
        memory.vectors(library, version, [q[0] for q in queries]),
        version,
        {i: rejected[q[0]] for i, q in enumerate(queries) if q[0] in rejected},
    )
    decisions = sorted((r.distance, queries[r.query][0], queries[r.query][1], r.person, r.level) for r in found)
    return _Plan(len(queries), decisions, taken, references, query_ids, rejections)


def _apply_recognition(
    db, considered: int, decisions: list, taken: set, only_unassigned: bool  # noqa: ANN001
) -> RecognitionSummary:
    # Only over the state the decisions were made for: never over a hand label, and with
    # only_unassigned never over a face that was given to someone since.
    # Inside the write transaction, so the guard read here is the guard each row meets.
    guard = IN_NO_PERSON if only_unassigned else NOT_BY_HAND
    open_to_it = faces_where(db, [d[1] for d in decisions], guard)
    rows = []
    for best, face_id, photo_id, person, level in decisions:
        if face_id not in open_to_it or (photo_id, person) in taken:
            continue  # labelled meanwhile, or this photo already shows that person
        taken.add((photo_id, person))
        rows.append((person, level, best, face_id))
    write_assignments(db, rows, guard)
    assigned = sum(row[1] == Assignment.AUTO for row in rows)
    return RecognitionSummary(considered, assigned, len(rows) - assigned)
