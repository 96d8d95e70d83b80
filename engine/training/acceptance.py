"""Is a new embedding better than the current one on the user's own faces?  Measured on a
per-person held-out split: verification error (balanced pairs, 10-fold, the `eval lfw`
code) and k-NN recognition error (each held-out face against the training faces); a new
model is accepted only when both errors are lower."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.evaluation import verification_report
from engine.training.data import FaceSet
from engine.training.trainer import validation_pairs

Embed = Callable[[np.ndarray], np.ndarray]  # chips -> embeddings (any length; compared as given)


@dataclass(frozen=True)
class HeldOutErrors:
    verification_error: float
    recognition_error: float
    pairs: int
    queries: int


def split_per_person(faces: FaceSet, held_out_share: float = 0.3, seed: int = 0) -> tuple[FaceSet, FaceSet]:
    """Each person's faces split: about `held_out_share` held out (at least one), the rest
    for training; both parts keep every person."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(faces.labels), dtype=bool)
    for person in np.unique(faces.labels):
        members = np.flatnonzero(faces.labels == person)
        take = max(1, int(round(len(members) * held_out_share)))
        held[rng.choice(members, size=min(take, len(members) - 1), replace=False)] = True
    return faces.subset(~held), faces.subset(held)


def held_out_errors(embed: Embed, train: FaceSet, held_out: FaceSet, seed: int = 0) -> HeldOutErrors:
    return errors_from_vectors(embed(held_out.chips), embed(train.chips), train, held_out, seed)


def errors_from_vectors(
    queries: np.ndarray, references: np.ndarray, train: FaceSet, held_out: FaceSet, seed: int = 0
) -> HeldOutErrors:
    """`queries` embed the held-out faces, `references` the training faces."""
    i, j = validation_pairs(held_out.labels, seed)
    distances = np.linalg.norm(queries[i] - queries[j], axis=1)
    same = held_out.labels[i] == held_out.labels[j]
    folds = np.random.default_rng(seed).permutation(len(i)) % 10
    verification = 1.0 - verification_report(distances, same, folds).accuracy_mean
    recognition = float(np.mean(misrecognised(queries, references, train, held_out)))
    return HeldOutErrors(float(verification), recognition, int(len(i)), int(len(queries)))


def misrecognised(
    queries: np.ndarray, references: np.ndarray, train: FaceSet, held_out: FaceSet, neighbours: int = 1
) -> np.ndarray:
    """Per held-out face: does the vote of its `neighbours` nearest training faces (most votes;
    ties: the nearest face) name someone else?  1 is 1-NN; the app votes with 5 (recognition.py)."""
    # Names, not label numbers: the two subsets number their people independently.
    reference_names = np.array([train.names[k] for k in train.labels])
    query_names = np.array([held_out.names[k] for k in held_out.labels])
    d = np.linalg.norm(queries[:, None, :] - references[None, :, :], axis=2)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :neighbours]
    wrong = np.zeros(len(queries), dtype=bool)
    for query, row in enumerate(nearest):
        votes: dict[str, int] = {}
        for reference in row:  # nearest first, so the first name to reach the top count is the nearer
            votes[reference_names[reference]] = votes.get(reference_names[reference], 0) + 1
        winner = max(votes, key=votes.__getitem__)  # max keeps the first of equal counts
        wrong[query] = winner != query_names[query]
    return wrong


def accept(before: HeldOutErrors, after: HeldOutErrors) -> bool:
    return after.verification_error < before.verification_error and after.recognition_error < before.recognition_error
