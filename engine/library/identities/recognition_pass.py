"""Recognising named people in the library: k-NN of every unnamed face against the faces the
user named, written only over faces nobody labelled, one person at most once per photo, and
never over an edit made while it computed (user_state.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.library.storage.assignments import IN_NO_PERSON, NOT_BY_HAND, Assignment, faces_where, write_assignments
from engine.library.storage.embeddings import WITH_VECTOR
from engine.library.storage.model_registry import active_version
from engine.library.identities.recognition import recognise
from engine.library.identities.recognition_memory import RecognitionMemory
from engine.library.storage.store import Library, in_chunks
from engine.library.identities.user_state import STATE_ATTEMPTS, StateChanged, read_snapshot, rejections_by_face, user_state
from engine.model_versions import ModelVersion


@dataclass(frozen=True)
class RecognitionSummary:
    considered: int
    assigned: int
    suggested: int


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
        except StateChanged:
            continue
    with library.atomic():  # the last attempt decides under the write lock: nothing can change
        return _recognize_once(library, version, only_unassigned, memory)


def _recognize_once(library: Library, version: ModelVersion, only_unassigned: bool,
                    memory: RecognitionMemory) -> RecognitionSummary:
    with read_snapshot(library):
        read_state = user_state(library.db)
        plan = _recognition_plan(library, version, only_unassigned, memory)
    if plan.decisions:
        with library.atomic() as db:
            if user_state(db) != read_state:
                raise StateChanged
            summary = _apply_recognition(db, plan.considered, plan.decisions, plan.taken, only_unassigned)
    else:
        summary = RecognitionSummary(plan.considered, 0, 0)
    memory.remember(version, plan.references, plan.unassigned, plan.rejections)
    return summary


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
    rejected = rejections_by_face(library)
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
        for cursor in in_chunks(db, "SELECT photo_id, person_id FROM faces WHERE person_id IS NOT NULL AND photo_id IN ({})",
                                photos):
            taken |= set(cursor.fetchall())
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
