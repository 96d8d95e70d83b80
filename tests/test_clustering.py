"""The clustering algorithm on generated embeddings, against brute-force references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.library.identities.clustering import FREE, ClusteringProblem, cluster_faces
from engine.library.identities.neighbours import neighbour_graph


def blobs(people: int, per_person: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 32))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(people), per_person)
    vectors = centres[labels] + rng.normal(scale=spread, size=(len(labels), 32))
    return vectors.astype(np.float32), labels


def brute_force_average_linkage(vectors: np.ndarray, threshold: float) -> list[set[int]]:
    """Textbook agglomeration: merge the pair with the smallest mean squared distance."""
    clusters = [{i} for i in range(len(vectors))]
    d2 = ((vectors[:, None, :].astype(np.float64) - vectors[None, :, :]) ** 2).sum(-1)
    while True:
        best, pair = None, None
        for a, b in itertools.combinations(range(len(clusters)), 2):
            value = np.mean([d2[i, j] for i in clusters[a] for j in clusters[b]])
            if best is None or value < best:
                best, pair = value, (a, b)
        if pair is None or best > threshold:
            return clusters
        a, b = pair
        clusters[a] |= clusters.pop(b)


def partition(labels: np.ndarray) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(i)
    return {frozenset(g) for g in groups.values()}


def free_problem(vectors: np.ndarray) -> ClusteringProblem:
    n = len(vectors)
    return ClusteringProblem(vectors, np.arange(n), np.full(n, FREE))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_average_linkage(seed: int) -> None:
    vectors, _ = blobs(people=6, per_person=7, spread=0.25, seed=seed)
    for threshold in (0.3, 0.8, 1.5):
        ours = cluster_faces(free_problem(vectors), threshold, k=len(vectors))
        reference = brute_force_average_linkage(vectors, threshold)
        assert partition(ours.labels) == {frozenset(c) for c in reference}, threshold


def test_sparse_graph_finds_the_same_people_as_a_full_graph() -> None:
    vectors, truth = blobs(people=40, per_person=12, spread=0.05)
    sparse = cluster_faces(free_problem(vectors), 0.5, k=8)
    full = cluster_faces(free_problem(vectors), 0.5, k=len(vectors))
    assert partition(sparse.labels) == partition(full.labels) == partition(truth)


def test_inverted_file_graph_recalls_the_exact_neighbours() -> None:
    vectors, _ = blobs(people=300, per_person=10, spread=0.1)
    exact = neighbour_graph(vectors, k=8, radius=1.0)
    approx = neighbour_graph(vectors, k=8, radius=1.0, exact_limit=100)
    exact_edges = set(zip(exact.first.tolist(), exact.second.tolist(), strict=True))
    approx_edges = set(zip(approx.first.tolist(), approx.second.tolist(), strict=True))
    assert len(exact_edges & approx_edges) / len(exact_edges) > 0.97


def test_exact_graph_matches_brute_force() -> None:
    vectors, _ = blobs(people=5, per_person=6, spread=0.3)
    graph = neighbour_graph(vectors, k=3, radius=0.9)
    d = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    expected = set()
    for i in range(len(vectors)):
        order = [j for j in np.argsort(d[i], kind="stable") if j != i][:3]
        expected |= {(min(i, j), max(i, j)) for j in order if d[i, j] <= 0.9}
    assert set(zip(graph.first.tolist(), graph.second.tolist(), strict=True)) == expected
    for a, b, dist in zip(graph.first, graph.second, graph.distance, strict=True):
        assert dist == pytest.approx(d[a, b], abs=1e-4)


def test_two_faces_of_one_photo_never_share_a_cluster() -> None:
    vectors, truth = blobs(people=3, per_person=6, spread=0.05)
    photos = np.arange(len(vectors))
    photos[1] = photos[0]  # two faces of person 0 in one photo (a mirror, a poster...)
    result = cluster_faces(ClusteringProblem(vectors, photos, np.full(len(vectors), FREE)), 0.5)
    assert result.labels[0] != result.labels[1]
    unconstrained = cluster_faces(free_problem(vectors), 0.5)
    assert unconstrained.labels[0] == unconstrained.labels[1]


def test_hand_assigned_faces_never_move_and_seeds_never_merge() -> None:
    vectors, truth = blobs(people=2, per_person=8, spread=0.05)
    seeds = np.full(len(vectors), FREE)
    seeds[0] = 100  # the user says face 0 is person 100 ...
    seeds[1] = 200  # ... and face 1, which looks just like it, is person 200
    seeds[8] = 100  # and a face of the *other* identity is also person 100
    result = cluster_faces(ClusteringProblem(vectors, np.arange(len(vectors)), seeds), 0.5)
    person_of = result.cluster_person
    assert person_of[result.labels[0]] == 100 and person_of[result.labels[8]] == 100
    assert result.labels[0] == result.labels[8]  # a seed never splits
    assert person_of[result.labels[1]] == 200
    assert result.labels[0] != result.labels[1]


def test_cluster_holding_one_persons_faces_joins_that_person() -> None:
    vectors, truth = blobs(people=2, per_person=8, spread=0.05)
    seeds = np.full(len(vectors), FREE)
    seeds[3] = 7
    result = cluster_faces(ClusteringProblem(vectors, np.arange(len(vectors)), seeds), 0.5)
    members = np.flatnonzero(result.labels == result.labels[3])
    assert set(members.tolist()) == set(np.flatnonzero(truth == truth[3]).tolist())
    assert result.cluster_person[result.labels[3]] == 7
    assert result.cluster_person[result.labels[np.flatnonzero(truth != truth[3])[0]]] == FREE


def test_rejected_face_never_joins_the_person() -> None:
    vectors, _ = blobs(people=1, per_person=8, spread=0.05)
    seeds = np.full(len(vectors), FREE)
    seeds[0] = 5
    problem = ClusteringProblem(vectors, np.arange(len(vectors)), seeds, {4: frozenset({5})})
    result = cluster_faces(problem, 0.5)
    assert result.labels[4] != result.labels[0]
    assert result.cluster_person[result.labels[4]] == FREE
    # Without the rejection, face 4 does join the person.
    plain = cluster_faces(ClusteringProblem(vectors, np.arange(len(vectors)), seeds), 0.5)
    assert plain.labels[4] == plain.labels[0]


def test_deterministic() -> None:
    vectors, _ = blobs(people=30, per_person=10, spread=0.2, seed=4)
    first = cluster_faces(free_problem(vectors), 0.6)
    second = cluster_faces(free_problem(vectors), 0.6)
    assert np.array_equal(first.labels, second.labels)


def test_empty_and_single_face() -> None:
    assert cluster_faces(free_problem(np.empty((0, 8), np.float32)), 0.5).clusters == 0
    one = cluster_faces(free_problem(np.ones((1, 8), np.float32)), 0.5)
    assert one.labels.tolist() == [0]
