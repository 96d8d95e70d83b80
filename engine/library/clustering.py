"""Agglomerative clustering of faces with the user's constraints, in bounded memory.

Average linkage on squared Euclidean distance, which is exact from per-cluster statistics:
mean over a in A, b in B of |a - b|^2 = mean|a|^2 + mean|b|^2 - 2 mean(A).mean(B).  So every
merge decision uses the true linkage of the two clusters, never an estimate from a sample of
pairs; the sparse neighbour graph only proposes which clusters may merge (sklearn's
`connectivity` idea).  Memory is O(faces x k), never faces^2.

Constraints, checked at every merge:
- faces a person assigned by hand start as one fixed cluster per person ("seed"); two seeds
  never merge, and a seed never splits;
- two faces of the same photo never share a cluster;
- a face rejected for a person never joins that person's seed.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.library.neighbours import neighbour_graph

FREE = -1  # seed_person value of a face nobody assigned by hand


@dataclass(frozen=True)
class ClusteringProblem:
    embeddings: np.ndarray  # (N, D) float32, in the model version's comparison space
    photo_ids: np.ndarray  # (N,) int64
    seed_person: np.ndarray  # (N,) int64: the hand-assigned person, or FREE
    rejected: Mapping[int, frozenset[int]] = field(default_factory=dict)  # face index -> people


@dataclass(frozen=True)
class ClusteringResult:
    labels: np.ndarray  # (N,) int64 cluster number, 0..clusters-1, numbered by smallest face index
    cluster_person: np.ndarray  # (clusters,) seed person of each cluster, or FREE
    linkage_threshold: float
    merges: int

    @property
    def clusters(self) -> int:
        return len(self.cluster_person)

    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.clusters)


class _Clusters:
    """Mutable per-cluster state: statistics for the linkage, constraint sets, adjacency."""

    def __init__(self, capacity: int, dims: int) -> None:
        self.count = np.zeros(capacity, dtype=np.int64)
        self.mean = np.zeros((capacity, dims), dtype=np.float64)
        self.mean_sq_norm = np.zeros(capacity, dtype=np.float64)
        self.parent = np.arange(capacity, dtype=np.int64)
        self.alive = np.zeros(capacity, dtype=bool)
        self.person: list[int] = [FREE] * capacity
        self.photos: list[set[int] | None] = [None] * capacity
        self.rejected: list[frozenset[int]] = [frozenset()] * capacity
        self.neighbours: list[set[int] | None] = [None] * capacity

    def linkage(self, a: int, others: np.ndarray) -> np.ndarray:
        return self.mean_sq_norm[a] + self.mean_sq_norm[others] - 2.0 * (self.mean[others] @ self.mean[a])

    def blocked(self, a: int, b: int) -> bool:
        pa, pb = self.person[a], self.person[b]
        if pa != FREE and pb != FREE and pa != pb:
            return True
        if (pa != FREE and pa in self.rejected[b]) or (pb != FREE and pb in self.rejected[a]):
            return True
        return not self.photos[a].isdisjoint(self.photos[b])


def cluster_faces(problem: ClusteringProblem, linkage_threshold: float, k: int = 10) -> ClusteringResult:
    """Merge clusters in order of increasing average squared distance while it stays at or
    below `linkage_threshold` and the constraints allow; deterministic for a given input."""
    vectors = np.asarray(problem.embeddings, dtype=np.float32)
    n, dims = vectors.shape if vectors.ndim == 2 else (0, 0)
    seeds = np.asarray(problem.seed_person, dtype=np.int64)
    photos = np.asarray(problem.photo_ids, dtype=np.int64)
    if n == 0:
        return ClusteringResult(np.empty(0, np.int64), np.empty(0, np.int64), linkage_threshold, 0)

    # Initial clusters: one per seed person (sorted), then one per free face.
    seed_people = np.unique(seeds[seeds != FREE])
    start = np.empty(n, dtype=np.int64)
    free = np.flatnonzero(seeds == FREE)
    start[free] = np.arange(len(seed_people), len(seed_people) + len(free))
    if len(seed_people):
        start[seeds != FREE] = np.searchsorted(seed_people, seeds[seeds != FREE])
    initial = len(seed_people) + len(free)
    state = _Clusters(2 * initial, dims)
    np.add.at(state.count, start, 1)
    sums = np.zeros((initial, dims), dtype=np.float64)
    np.add.at(sums, start, vectors.astype(np.float64))
    sq = np.einsum("ij,ij->i", vectors, vectors).astype(np.float64)
    sq_sums = np.bincount(start, weights=sq, minlength=initial)
    state.mean[:initial] = sums / state.count[:initial, None]
    state.mean_sq_norm[:initial] = sq_sums / state.count[:initial]
    state.alive[:initial] = True
    for c in range(initial):
        state.photos[c] = set()
        state.neighbours[c] = set()
    for face in range(n):
        state.photos[start[face]].add(int(photos[face]))
        rejected = problem.rejected.get(face)
        if rejected:
            state.rejected[start[face]] = state.rejected[start[face]] | rejected
    for c, person in enumerate(seed_people):
        state.person[c] = int(person)

    # Candidate merges from the face graph, lifted to the initial clusters.
    radius = 2.0 * float(np.sqrt(max(linkage_threshold, 0.0)))
    graph = neighbour_graph(vectors, k=k, radius=radius)
    a, b = start[graph.first], start[graph.second]
    a, b = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.stack([a[a != b], b[a != b]], axis=1), axis=0) if len(a) else np.empty((0, 2), np.int64)
    for x, y in pairs.tolist():
        state.neighbours[x].add(y)
        state.neighbours[y].add(x)
    heap: list[tuple[float, int, int]] = []
    if len(pairs):
        values = (
            state.mean_sq_norm[pairs[:, 0]]
            + state.mean_sq_norm[pairs[:, 1]]
            - 2.0 * np.einsum("ij,ij->i", state.mean[pairs[:, 0]], state.mean[pairs[:, 1]])
        )
        keep = values <= linkage_threshold
        heap = list(zip(values[keep].tolist(), pairs[keep, 0].tolist(), pairs[keep, 1].tolist(), strict=True))
        heapq.heapify(heap)

    next_id, merges = initial, 0
    while heap:
        value, x, y = heapq.heappop(heap)
        if not (state.alive[x] and state.alive[y]) or state.blocked(x, y):
            continue
        merged = next_id
        next_id += 1
        merges += 1
        _merge(state, x, y, merged)
        others = np.fromiter(sorted(state.neighbours[merged]), dtype=np.int64)
        if len(others):
            values = state.linkage(merged, others)
            for v, other in zip(values.tolist(), others.tolist(), strict=True):
                if v <= linkage_threshold:
                    heapq.heappush(heap, (v, other, merged))

    roots = _find_roots(state.parent, start)
    return _numbered(roots, state, linkage_threshold, merges)


def _merge(state: _Clusters, x: int, y: int, merged: int) -> None:
    nx, ny = state.count[x], state.count[y]
    state.count[merged] = nx + ny
    state.mean[merged] = (nx * state.mean[x] + ny * state.mean[y]) / (nx + ny)
    state.mean_sq_norm[merged] = (nx * state.mean_sq_norm[x] + ny * state.mean_sq_norm[y]) / (nx + ny)
    state.person[merged] = state.person[x] if state.person[x] != FREE else state.person[y]
    big, small = (x, y) if len(state.photos[x]) >= len(state.photos[y]) else (y, x)
    state.photos[merged] = state.photos[big]
    state.photos[merged].update(state.photos[small])
    state.rejected[merged] = state.rejected[x] | state.rejected[y]
    big, small = (x, y) if len(state.neighbours[x]) >= len(state.neighbours[y]) else (y, x)
    neighbours = state.neighbours[big]
    neighbours.update(state.neighbours[small])
    neighbours.discard(x)
    neighbours.discard(y)
    for other in neighbours:
        links = state.neighbours[other]
        links.discard(x)
        links.discard(y)
        links.add(merged)
    state.neighbours[merged] = neighbours
    for old in (x, y):
        state.alive[old] = False
        state.parent[old] = merged
        state.photos[old] = None
        state.neighbours[old] = None
    state.alive[merged] = True


def _find_roots(parent: np.ndarray, start: np.ndarray) -> np.ndarray:
    roots = start.copy()
    while True:
        up = parent[roots]
        if np.array_equal(up, roots):
            return roots
        roots = up


def _numbered(roots: np.ndarray, state: _Clusters, threshold: float, merges: int) -> ClusteringResult:
    """Renumber clusters 0.. in order of their smallest face index (stable across runs)."""
    _, first_seen, labels = np.unique(roots, return_index=True, return_inverse=True)
    order = np.argsort(first_seen, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels = rank[labels.ravel()]
    cluster_roots = np.unique(roots)[order]
    persons = np.array([state.person[r] for r in cluster_roots.tolist()], dtype=np.int64)
    return ClusteringResult(labels.astype(np.int64), persons, threshold, merges)
