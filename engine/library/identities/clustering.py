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

from engine.library.identities.neighbours import neighbour_graph

FREE = -1  # seed_person value of a face nobody assigned by hand
UNKNOWN = -2  # heap partner of a lazy entry: the value is a lower bound, partner to be found


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
    state = _Clusters(initial, dims)
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

    # Candidate merges from the face graph, lifted to the initial clusters.  Two groups
    # whose mean squared distance is <= T have a pair of faces at squared distance <= T,
    # so a graph within radius sqrt(T) holds every eligible merge (up to its k limit).
    graph = neighbour_graph(vectors, k=k, radius=float(np.sqrt(max(linkage_threshold, 0.0))))
    a, b = start[graph.first], start[graph.second]
    a, b = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.stack([a[a != b], b[a != b]], axis=1), axis=0) if len(a) else np.empty((0, 2), np.int64)
    for x, y in pairs.tolist():
        state.neighbours[x].add(y)
        state.neighbours[y].add(x)

    # Each cluster's best (lowest-linkage) neighbour sits in the heap; an entry is valid
    # while the cluster's stamp is unchanged.  The global minimum is the next merge.
    merger = _BestNeighbourMerger(state, linkage_threshold)
    for c in range(initial):
        merger.refresh(c)
    merges = merger.run()
    roots = _find_roots(state.parent, start)
    return _numbered(roots, state, linkage_threshold, merges)


class _BestNeighbourMerger:
    def __init__(self, state: _Clusters, threshold: float) -> None:
        self.state = state
        self.threshold = threshold
        capacity = len(state.count)
        self.stamp = np.zeros(capacity, dtype=np.int64)
        self.best_partner = np.full(capacity, -1, dtype=np.int64)
        self.best_value = np.full(capacity, np.inf)
        self.heap: list[tuple[float, int, int, int]] = []

    def _set_best(self, c: int, value: float, partner: int) -> None:
        self.stamp[c] += 1
        self.best_value[c], self.best_partner[c] = value, partner
        if partner != -1:
            heapq.heappush(self.heap, (value, c, partner, int(self.stamp[c])))

    def _candidates(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        links = self.state.neighbours[c]
        others = np.fromiter(links, dtype=np.int64, count=len(links))
        return others, self.state.linkage(c, others)

    def refresh(self, c: int) -> None:
        others, values = self._candidates(c)
        self._set_best(c, *self._pick(others, values))

    def _pick(self, others: np.ndarray, values: np.ndarray) -> tuple[float, int]:
        ok = values <= self.threshold
        if not ok.any():
            return np.inf, -1
        others, values = others[ok], values[ok]
        i = np.lexsort((others, values))[0]  # ties broken by id: deterministic
        return float(values[i]), int(others[i])

    def run(self) -> int:
        """Pop the lowest entry.  A *lazy* entry (partner UNKNOWN) carries a lower bound of
        its cluster's best linkage: popping it means the bound is the global minimum, so
        the exact best is computed and pushed back.  The bounds hold because average
        linkage never drops below the smaller of the two linkages it averages."""
        state, merges = self.state, 0
        while self.heap:
            value, c, partner, stamp = heapq.heappop(self.heap)
            if stamp != self.stamp[c] or not state.alive[c]:
                continue
            if partner == UNKNOWN:
                self.refresh(c)
                continue
            if not state.alive[partner]:
                continue
            if state.blocked(c, partner):  # permanent: clusters only grow
                state.neighbours[c].discard(partner)
                state.neighbours[partner].discard(c)
                self.refresh(c)
                if self.best_partner[partner] == c:
                    self.refresh(partner)
                continue
            _merge(state, c, partner)
            merges += 1
            others, values = self._candidates(c)
            self._set_best(c, *self._pick(others, values))
            for other, v in zip(others.tolist(), values.tolist(), strict=True):
                best_value, best_partner = self.best_value[other], self.best_partner[other]
                if v <= self.threshold and (v < best_value or (v == best_value and c < best_partner)):
                    self._set_best(other, v, c)  # the merged cluster is its new best
                elif best_partner in (c, partner):
                    # Its best was one of the two: every other neighbour is >= the old best
                    # and so is the new linkage (v >= old best here), a valid lower bound.
                    self._set_best(other, best_value, UNKNOWN)
        return merges


def _merge(state: _Clusters, x: int, y: int) -> None:
    """y joins x (x's slot holds the merged cluster)."""
    nx, ny = state.count[x], state.count[y]
    state.count[x] = nx + ny
    state.mean[x] = (nx * state.mean[x] + ny * state.mean[y]) / (nx + ny)
    state.mean_sq_norm[x] = (nx * state.mean_sq_norm[x] + ny * state.mean_sq_norm[y]) / (nx + ny)
    if state.person[x] == FREE:
        state.person[x] = state.person[y]
    if len(state.photos[x]) >= len(state.photos[y]):
        state.photos[x].update(state.photos[y])
    else:
        state.photos[y].update(state.photos[x])
        state.photos[x] = state.photos[y]
    state.rejected[x] = state.rejected[x] | state.rejected[y]
    links_x, links_y = state.neighbours[x], state.neighbours[y]
    for other in links_y:
        if other != x:
            links = state.neighbours[other]
            links.discard(y)
            links.add(x)
    links_x.update(links_y)
    links_x.discard(x)
    links_x.discard(y)
    state.alive[y] = False
    state.parent[y] = x
    state.photos[y] = None
    state.neighbours[y] = None


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
