"""Sparse k-nearest-neighbour graphs of face embeddings, in bounded memory.

Clustering only needs to know which faces are *candidates* for a merge; the linkage values
themselves are computed exactly elsewhere.  So an approximate graph may cost a split, never
a wrong merge.  Up to `EXACT_LIMIT` faces the graph is exact (blocked brute force); above it
an inverted-file search (k-means cells, each cell searched against its nearest cells) keeps
the work near-linear: 100k faces take seconds instead of a 10^10-distance matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXACT_LIMIT = 20_000
QUERY_BLOCK = 1024


@dataclass(frozen=True)
class NeighbourGraph:
    """Undirected edges i < j with their Euclidean distances."""

    first: np.ndarray  # (E,) int64
    second: np.ndarray  # (E,) int64
    distance: np.ndarray  # (E,) float32

    def __len__(self) -> int:
        return len(self.first)


def _squared_distances(queries: np.ndarray, points: np.ndarray, point_norms: np.ndarray) -> np.ndarray:
    query_norms = np.einsum("ij,ij->i", queries, queries)
    d2 = query_norms[:, None] + point_norms[None, :] - 2.0 * (queries @ points.T)
    return np.maximum(d2, 0.0, out=d2)


Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # first ids, second ids, distances


def _top_k(d2: np.ndarray, query_ids: np.ndarray, point_ids: np.ndarray, k: int, radius2: float) -> Pairs:
    """The k nearest candidates of each query within the radius, itself excluded.  Most
    rows have few candidates inside the radius, so only crowded rows are partitioned."""
    inside = d2 <= radius2
    inside &= query_ids[:, None] != point_ids[None, :]
    counts = inside.sum(axis=1)
    crowded = counts > k
    if crowded.any():
        import torch  # only for crowded rows: grouping a small library never waits 2 s for it

        rows = np.flatnonzero(crowded)
        sub = torch.from_numpy(np.where(inside[rows], d2[rows], np.inf).astype(np.float32))
        keep = torch.topk(sub, k, dim=1, largest=False, sorted=False).indices.numpy()  # threaded
        inside[rows] = False
        inside[rows[:, None], keep] = True
    r, c = np.nonzero(inside)
    return query_ids[r], point_ids[c], np.sqrt(d2[r, c]).astype(np.float32)


def _exact_candidates(vectors: np.ndarray, k: int, radius2: float) -> list[Pairs]:
    norms = np.einsum("ij,ij->i", vectors, vectors)
    ids = np.arange(len(vectors))
    parts = []
    for start in range(0, len(vectors), QUERY_BLOCK):
        block = ids[start : start + QUERY_BLOCK]
        d2 = _squared_distances(vectors[block], vectors, norms)
        parts.append(_top_k(d2, block, ids, k, radius2))
    return parts


def _kmeans(vectors: np.ndarray, cells: int, iterations: int = 8, sample: int = 50_000) -> np.ndarray:
    """Deterministic k-means centroids (fixed seed, fitted on a sample)."""
    rng = np.random.default_rng(0)
    fit = vectors[rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)]
    centroids = fit[rng.choice(len(fit), size=cells, replace=False)].copy()
    for _ in range(iterations):
        assign = _nearest_centroid(fit, centroids)
        sums = np.zeros_like(centroids, dtype=np.float64)
        np.add.at(sums, assign, fit)
        counts = np.bincount(assign, minlength=cells)
        filled = counts > 0
        centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
    return centroids


def _nearest_centroids(vectors: np.ndarray, centroids: np.ndarray, count: int) -> np.ndarray:
    """(N, count) indices of each vector's nearest centroids, nearest first."""
    norms = np.einsum("ij,ij->i", centroids, centroids)
    out = np.empty((len(vectors), count), dtype=np.int64)
    for start in range(0, len(vectors), 8192):
        d2 = _squared_distances(vectors[start : start + 8192], centroids, norms)
        if count == 1:
            out[start : start + 8192, 0] = d2.argmin(axis=1)
            continue
        part = np.argpartition(d2, count - 1, axis=1)[:, :count] if count < d2.shape[1] else np.argsort(d2, axis=1)
        order = np.argsort(np.take_along_axis(d2, part, axis=1), axis=1, kind="stable")
        out[start : start + 8192] = np.take_along_axis(part, order, axis=1)[:, :count]
    return out


def _nearest_centroid(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return _nearest_centroids(vectors, centroids, 1)[:, 0]


def _inverted_file_candidates(vectors: np.ndarray, k: int, radius2: float, probes: int) -> list[Pairs]:
    """Each point is listed in its two nearest cells (so a point near a border is found
    from both sides); the queries of a cell search the cells nearest to that cell."""
    cells = max(16, int(np.sqrt(len(vectors))))
    centroids = _kmeans(vectors, cells)
    nearest = _nearest_centroids(vectors, centroids, 2)
    home = nearest[:, 0]
    listed = np.concatenate([nearest[:, 0], nearest[:, 1]])
    owners = np.concatenate([np.arange(len(vectors)), np.arange(len(vectors))])
    order = np.argsort(listed, kind="stable")
    bounds = np.searchsorted(listed[order], np.arange(cells + 1))
    lists = [owners[order[bounds[c] : bounds[c + 1]]] for c in range(cells)]
    centroid_d2 = _squared_distances(centroids, centroids, np.einsum("ij,ij->i", centroids, centroids))
    norms = np.einsum("ij,ij->i", vectors, vectors)
    parts = []
    for cell in range(cells):
        queries = np.flatnonzero(home == cell)
        if len(queries) == 0:
            continue
        near_cells = np.argsort(centroid_d2[cell], kind="stable")[:probes]
        candidates = np.unique(np.concatenate([lists[c] for c in near_cells]))
        for start in range(0, len(queries), QUERY_BLOCK):
            block = queries[start : start + QUERY_BLOCK]
            d2 = _squared_distances(vectors[block], vectors[candidates], norms[candidates])
            parts.append(_top_k(d2, block, candidates, k, radius2))
    return parts


def neighbour_graph(
    vectors: np.ndarray, k: int = 10, radius: float = np.inf, exact_limit: int = EXACT_LIMIT, probes: int = 12
) -> NeighbourGraph:
    """Each vector's k nearest others within `radius`, as a deduplicated undirected graph."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) < 2 or k < 1:
        empty = np.empty(0, np.int64)
        return NeighbourGraph(empty, empty, np.empty(0, np.float32))
    radius2 = float(radius) ** 2
    if len(vectors) <= exact_limit:
        parts = _exact_candidates(vectors, k, radius2)
    else:
        parts = _inverted_file_candidates(vectors, k, radius2, probes)
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    dist = np.concatenate([p[2] for p in parts])
    first, second = np.minimum(rows, cols), np.maximum(rows, cols)
    order = np.lexsort((second, first))
    first, second, dist = first[order], second[order], dist[order]
    unique = np.ones(len(first), dtype=bool)
    unique[1:] = (first[1:] != first[:-1]) | (second[1:] != second[:-1])
    return NeighbourGraph(first[unique], second[unique], dist[unique])
