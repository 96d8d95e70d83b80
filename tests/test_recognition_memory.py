"""Recognition after an edit looks again only where the edit can change an answer
(engine.library.identities.recognition_memory).  Reference: a full pass over the same library after the
same edits; the two must agree face by face, whatever the user did."""

from __future__ import annotations

import shutil

import numpy as np
from hypothesis import HealthCheck, given, settings
from synthetic_library import EDITS, apply_edits, assignments, fill_library, identity_vectors

from engine.library.edits import editing
from engine.library.identities.grouping import cluster_library
from engine.library.identities.recognition_pass import recognize_faces
from engine.library.identities.recognition import recognise
from engine.library.identities.recognition_memory import RecognitionMemory
from engine.library.storage.store import Library
from engine.model_versions import DLIB_RESNET_V1

VERSION = DLIB_RESNET_V1


def library_vectors(seed: int = 3) -> np.ndarray:
    """Three people of 6 close faces; around each, 3 loose faces between the automatic and the
    suggestion distance (each alone: they stay unsorted); 3 strangers."""
    rng = np.random.default_rng(seed)
    tight, _ = identity_vectors(people=3, per_person=6, seed=seed)
    loose = []
    for person in range(3):
        for _ in range(3):
            direction = rng.normal(size=128)
            loose.append(tight[person * 6] + 0.6 * direction / np.linalg.norm(direction))
    strangers, _ = identity_vectors(people=3, per_person=1, seed=seed + 100)
    return np.vstack([tight, np.array(loose, np.float32), strangers]).astype(np.float32)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS)
def test_recognition_after_each_edit_agrees_with_a_full_pass(tmp_path_factory, edits) -> None:
    folder = tmp_path_factory.mktemp("memory")
    with Library(folder / "a.db") as library:
        ids = fill_library(library, library_vectors())
        cluster_library(library, VERSION)
    shutil.copy(folder / "a.db", folder / "b.db")
    memory = RecognitionMemory()
    with Library(folder / "a.db") as remembered, Library(folder / "b.db") as full:
        recognize_faces(remembered, VERSION, memory=memory)
        recognize_faces(full, VERSION)
        for edit in edits:
            apply_edits(remembered, ids, [edit])
            apply_edits(full, ids, [edit])
            recognize_faces(remembered, VERSION, memory=memory)
            recognize_faces(full, VERSION)
            assert assignments(remembered) == assignments(full), edit


def test_after_naming_a_person_only_faces_near_their_faces_are_looked_at(tmp_path) -> None:
    with Library(tmp_path / "lib.db") as library:
        ids = fill_library(library, library_vectors())
        cluster_library(library, VERSION)
        memory = RecognitionMemory()
        first = recognize_faces(library, VERSION, memory=memory)
        unassigned = library.query("SELECT f.id, e.embedding FROM faces f JOIN face_embeddings e ON e.face_id = f.id "
                                   "WHERE f.person_id IS NULL")
        assert first.considered == len(unassigned) >= 10  # no memory yet: every unassigned face
        assert recognize_faces(library, VERSION, memory=memory).considered == 0  # nothing changed
        person = library.scalar("SELECT person_id FROM faces WHERE id = ?", [ids[0]])
        editing.name_person(library, person, "Anna")
        # Brute force: the unassigned faces within the suggestion distance of one of Anna's.
        anna = np.stack([np.frombuffer(r["embedding"], "<f4") for r in library.query(
            "SELECT e.embedding FROM faces f JOIN face_embeddings e ON e.face_id = f.id "
            "WHERE f.person_id = ? AND f.assignment = 'manual'", [person])])
        near = [r["id"] for r in unassigned
                if np.linalg.norm(anna - np.frombuffer(r["embedding"], "<f4"), axis=1).min() <= VERSION.suggest_distance]
        summary = recognize_faces(library, VERSION, memory=memory)
        assert summary.considered == len(near) >= 2
        assert summary.suggested + summary.assigned == len(near)  # each has Anna's faces to vote
        placed = {r["id"] for r in library.query("SELECT id FROM faces WHERE person_id = ? AND assignment != 'manual'",
                                                 [person])}
        assert placed == set(near)


def test_recognise_matches_a_sorted_brute_force() -> None:
    """The k nearest chosen without sorting each row agree with sorting it, rejections included."""
    rng = np.random.default_rng(0)
    refs, people = identity_vectors(people=6, per_person=7, seed=4, spread=0.05)
    queries = refs[rng.choice(len(refs), 30)] + rng.normal(scale=0.04, size=(30, 128)).astype(np.float32)
    rejected = {0: {int(people[0])}, 5: {1, 2}}
    found = {r.query: r for r in recognise(refs, people, queries, VERSION, rejected)}
    for q, query in enumerate(queries):
        d = np.linalg.norm(refs.astype(np.float64) - query, axis=1)
        d[np.isin(people, list(rejected.get(q, ())))] = np.inf
        nearest = np.argsort(d, kind="stable")[:5]
        voters = [(people[j], d[j]) for j in nearest if d[j] <= VERSION.suggest_distance]
        if not voters:
            assert q not in found
            continue
        counts = {p: sum(1 for v, _ in voters if v == p) for p, _ in voters}
        winner = min(counts, key=lambda p: (-counts[p], min(dist for v, dist in voters if v == p), p))
        assert found[q].person == winner
        assert found[q].distance == min(dist for v, dist in voters if v == winner)
