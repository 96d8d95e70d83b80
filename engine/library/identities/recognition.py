"""k-NN recognition: which named person, if any, a face belongs to, and how sure we are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.library.storage.assignments import Assignment
from engine.model_versions import ModelVersion

NEIGHBOURS = 5
# A person known from one or two faces is only ever suggested, never given faces silently:
# one hand-drawn face of a child pulled in an unrelated man (seen), and two faces cannot show
# how far that person's faces spread.
MIN_AUTO_REFERENCES = 3
QUERY_BLOCK = 1024
BLOCK_ELEMENTS = 1 << 24  # query-by-reference distances computed at once (64 MB of float32)


@dataclass(frozen=True)
class Recognition:
    query: int  # index into the queries
    person: int
    distance: float  # to the person's nearest labelled face
    level: Assignment  # AUTO (nearest labelled faces agree, close) or SUGGESTED


def recognise(
    ref_vectors: np.ndarray,
    ref_people: np.ndarray,
    queries: np.ndarray,
    version: ModelVersion,
    rejected: Mapping[int, frozenset[int] | set[int]] | None = None,
    neighbours: int = NEIGHBOURS,
    own: Sequence[int] | None = None,
) -> list[Recognition]:
    """Vectors are in the version's comparison space.  Among a query's `neighbours` nearest
    labelled faces within `suggest_distance`, the person with most votes wins (ties: nearer).  The
    result is 'auto' when every close neighbour is that person and the nearest is within
    `auto_assign_distance` and the person has at least MIN_AUTO_REFERENCES labelled faces, else
    'suggested'.  Queries with no labelled face within
    `suggest_distance` are unknown and absent from the result.  `rejected[q]` are people query q
    must not be given.  `own[q]` is the index of query q among the references when it is one
    of them: left out, so a labelled face is judged by the others."""
    rejected = rejected or {}
    if len(ref_vectors) == 0 or len(queries) == 0:
        return []
    refs = np.asarray(ref_vectors, dtype=np.float64)
    refs32 = refs.astype(np.float32)
    ref_norms = (refs32**2).sum(1)
    people, counts = np.unique(ref_people, return_counts=True)
    references = dict(zip(people.tolist(), counts.tolist(), strict=True))
    k = min(neighbours, len(refs))
    rows_per_block = max(1, min(QUERY_BLOCK, BLOCK_ELEMENTS // len(refs)))
    out = []
    for start in range(0, len(queries), rows_per_block):
        block = np.asarray(queries[start : start + rows_per_block], dtype=np.float64)
        # Only references within the suggestion distance can vote, and the k nearest of them are
        # the voters: chosen on float32 squared distances less the row's own norm (same order),
        # so no row of 10^4-10^5 labels is sorted; the voters' distances are then exact.
        rank = block.astype(np.float32) @ refs32.T
        rank *= -2
        rank += ref_norms
        for row in range(len(block)):
            query = start + row
            for person in rejected.get(query, ()):
                rank[row, ref_people == person] = np.inf
            if own is not None:
                rank[row, own[query]] = np.inf
        cut = version.suggest_distance**2 * (1 + 1e-4) + 1e-4 - (block**2).sum(1)
        within = rank <= cut.astype(np.float32)[:, None]
        counts = within.sum(axis=1)
        few = np.flatnonzero((counts > 0) & (counts <= k))
        rows, cols = np.nonzero(within[few])
        rows = few[rows]
        many = np.flatnonzero(counts > k)  # more voters in reach than votes: the k nearest of them
        if len(many):
            nearest = np.argpartition(rank[many], k - 1, axis=1)[:, :k]
            rows = np.concatenate([rows, np.repeat(many, k)])
            cols = np.concatenate([cols, nearest.ravel()])
        distances = np.linalg.norm(refs[cols] - block[rows], axis=1)
        order = np.lexsort((cols, distances, rows))  # by query, nearest first, ties by reference order
        rows, cols, distances = rows[order], cols[order], distances[order]
        out += _votes(start, rows, cols, distances, ref_people, references, version)
    return out


def _votes(start: int, rows: np.ndarray, cols: np.ndarray, distances: np.ndarray, ref_people: np.ndarray,
           references: dict[int, int], version: ModelVersion) -> list[Recognition]:
    """Each query's winner among its voters (rows sorted, nearest voters first within a row)."""
    out = []
    ends = np.flatnonzero(np.diff(rows)) + 1
    for first, last in zip(np.r_[0, ends].tolist(), np.r_[ends, len(rows)].tolist(), strict=True):
        if first == last:
            continue
        votes: dict[int, list[float]] = {}
        for j, distance in zip(cols[first:last].tolist(), distances[first:last].tolist(), strict=True):
            if distance <= version.suggest_distance:
                votes.setdefault(int(ref_people[j]), []).append(distance)
        if not votes:
            continue
        winner = min(votes, key=lambda p: (-len(votes[p]), min(votes[p]), p))
        best = min(votes[winner])
        sure = len(votes) == 1 and best <= version.auto_assign_distance and references[winner] >= MIN_AUTO_REFERENCES
        out.append(Recognition(start + int(rows[first]), winner, best, Assignment.AUTO if sure else Assignment.SUGGESTED))
    return out
