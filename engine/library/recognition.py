"""k-NN recognition: which named person, if any, a face belongs to, and how sure we are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.model_versions import ModelVersion

NEIGHBOURS = 5
# A person known from one or two faces is only ever suggested, never given faces silently:
# one hand-drawn face of a child pulled in an unrelated man (seen), and two faces cannot show
# how far that person's faces spread.
MIN_AUTO_REFERENCES = 3
QUERY_BLOCK = 1024


@dataclass(frozen=True)
class Recognition:
    query: int  # index into the queries
    person: int
    distance: float  # to the person's nearest labelled face
    level: str  # 'auto' (nearest labelled faces agree, close) or 'suggested'


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
    ref_norms = (ref_vectors.astype(np.float64) ** 2).sum(1)
    people, counts = np.unique(ref_people, return_counts=True)
    references = dict(zip(people.tolist(), counts.tolist(), strict=True))
    k = min(neighbours, len(ref_vectors))
    out = []
    for start in range(0, len(queries), QUERY_BLOCK):
        block = queries[start : start + QUERY_BLOCK].astype(np.float64)
        d = np.sqrt(np.maximum((block**2).sum(1)[:, None] + ref_norms[None, :] - 2 * block @ ref_vectors.T, 0))
        for row in range(len(block)):
            query = start + row
            for person in rejected.get(query, ()):
                d[row, ref_people == person] = np.inf
            if own is not None:
                d[row, own[query]] = np.inf
            nearest = np.argsort(d[row], kind="stable")[:k]
            votes: dict[int, list[float]] = {}
            for j in nearest:
                if d[row, j] <= version.suggest_distance:
                    votes.setdefault(int(ref_people[j]), []).append(float(d[row, j]))
            if not votes:
                continue
            winner = min(votes, key=lambda p: (-len(votes[p]), min(votes[p]), p))
            best = min(votes[winner])
            sure = len(votes) == 1 and best <= version.auto_assign_distance and references[winner] >= MIN_AUTO_REFERENCES
            out.append(Recognition(query, winner, best, "auto" if sure else "suggested"))
    return out
