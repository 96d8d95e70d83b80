"""What the last recognition pass saw, so the pass after an edit looks again only where the
edit can change an answer.

A full pass compares every unassigned face with every labelled face: seconds in a library of
10^5 faces, too slow to run after each Yes.  An edit changes labelled faces (named, moved,
confirmed, rejected) and which faces are unassigned.  Only a labelled face within the
suggestion distance can vote for a face, so the answers that can change are those of the
faces that are new to the unassigned set, whose rejections changed, or that lie within the
suggestion distance of a labelled face that was added, moved to another person or removed.
Everything else keeps the answer the last pass gave it (unknown, or a person already in its
photo).  A long-lived process (the window's engine host) keeps one memory per library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.library.storage.embeddings import vectors_of
from engine.library.storage.store import Library, blob_to_embedding
from engine.model_versions import ModelVersion

LOAD_ALL_AT = 5000  # this many missing vectors: read the version's every vector in one query


@dataclass
class RecognitionMemory:
    version: str = ""
    references: dict[int, int] = field(default_factory=dict)  # labelled face -> person
    unassigned: frozenset[int] = frozenset()
    rejections: frozenset[tuple[int, int]] = frozenset()
    cached: dict[int, np.ndarray] = field(default_factory=dict)  # face -> vector in the comparison space
    cached_version: str = ""
    _stacked_key: tuple = ()
    _stacked: np.ndarray | None = None

    def vectors(self, library: Library, version: ModelVersion, face_ids: list[int]) -> np.ndarray:
        """The faces' vectors in the version's comparison space (embeddings never change for a
        version, so they are read once)."""
        if version.name != self.cached_version:
            self.cached.clear()
            self.cached_version = version.name
        missing = [f for f in face_ids if f not in self.cached]
        if len(missing) >= LOAD_ALL_AT:
            rows = {face: blob_to_embedding(blob) for face, blob in library.db.execute(
                "SELECT face_id, embedding FROM face_embeddings WHERE model_version = ?", [version.name]).fetchall()}
        else:
            rows = vectors_of(library, missing, version.name)
        if rows:
            prepared = version.prepare(np.stack(list(rows.values())))
            self.cached.update(zip(rows, prepared, strict=True))
        if not face_ids:
            return np.empty((0, version.embedding_size), np.float32)
        return np.stack([self.cached[f] for f in face_ids])

    def reference_vectors(self, library: Library, version: ModelVersion, references: dict[int, int]) -> np.ndarray:
        """The labelled faces' vectors in `references` order, stacked once per set of labels."""
        key = (version.name, tuple(references))
        if self._stacked_key != key:
            self._stacked = self.vectors(library, version, list(references))
            self._stacked_key = key
        return self._stacked

    def to_look_at(self, library: Library, version: ModelVersion, references: dict[int, int], unassigned: list[int],
                   rejections: frozenset[tuple[int, int]]) -> set[int] | None:
        """The unassigned faces whose answer may have changed since the last pass; None when
        there was no last pass for this version (look at all)."""
        if version.name != self.version:
            return None
        look = {face for face in unassigned if face not in self.unassigned}
        look |= {face for face, _ in rejections ^ self.rejections} & set(unassigned)
        changed = [face for face, person in references.items() if self.references.get(face) != person]
        changed += [face for face in self.references if face not in references]
        rest = [face for face in unassigned if face not in look]
        if changed and rest:
            near = _within(self.vectors(library, version, rest), self.vectors(library, version, changed),
                           version.suggest_distance)
            look |= {face for face, close in zip(rest, near.tolist(), strict=True) if close}
        return look

    def remember(self, version: ModelVersion, references: dict[int, int], unassigned: list[int],
                 rejections: frozenset[tuple[int, int]]) -> None:
        self.version = version.name
        self.references = dict(references)
        self.unassigned = frozenset(unassigned)
        self.rejections = rejections


def _within(queries: np.ndarray, points: np.ndarray, distance: float) -> np.ndarray:
    """Per query: is any point within `distance`?  (float64; blocks of 64 MB at most)"""
    points = points.astype(np.float64)
    norms = (points**2).sum(1)
    block = max(1, (1 << 23) // max(len(points), 1))
    out = np.zeros(len(queries), dtype=bool)
    for start in range(0, len(queries), block):
        q = queries[start : start + block].astype(np.float64)
        squared = (q**2).sum(1)[:, None] + norms[None, :] - 2 * q @ points.T
        out[start : start + block] = (squared <= distance**2 * (1 + 1e-9)).any(axis=1)
    return out
