"""Faces named only with their group that the evidence says are someone else.

Naming a group names every face in it, including wrong ones the user never looked at.  Such
a face is doubtful when the other labelled faces, without it, recognise it surely as another
named person: every one of its nearest labelled faces within the suggestion distance is that
person, the nearest within the automatic distance, and that person has enough labels to be
given faces at all (recognition.py's rule for giving a face without asking).  None of them
is its own person.  A regroup turns a doubtful face into a question ("Is this Ben?") and
fine-tuning does not learn from it.  A face the user confirmed on its own is never doubtful.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.library.identities.recognition import recognise
from engine.library.storage.assignments import Assignment
from engine.model_versions import ModelVersion


@dataclass(frozen=True)
class DoubtfulLabel:
    index: int  # among the labelled faces given
    named: int  # the person it was named as, with its group
    likely: int  # the person its labelled neighbours say it is
    distance: float  # to that person's nearest labelled face


def doubtful_labels(
    vectors: np.ndarray,
    people: np.ndarray,
    confirmed: np.ndarray,
    version: ModelVersion,
    rejected: Mapping[int, frozenset[int] | set[int]] | None = None,
) -> list[DoubtfulLabel]:
    """The labelled faces of named people (`vectors` in the version's comparison space, their
    `people`, whether the user `confirmed` each) -> the doubtful ones.  `rejected[i]` are
    people face i must never be said to be."""
    unconfirmed = np.flatnonzero(~np.asarray(confirmed, dtype=bool))
    if len(unconfirmed) == 0 or len(np.unique(people)) < 2:
        return []
    rejected = rejected or {}
    found = recognise(
        vectors, people, vectors[unconfirmed], version,
        {q: rejected[int(i)] for q, i in enumerate(unconfirmed) if int(i) in rejected},
        own=unconfirmed.tolist(),
    )
    out = []
    for r in found:
        index = int(unconfirmed[r.query])
        if r.level == Assignment.AUTO and r.person != int(people[index]):
            out.append(DoubtfulLabel(index, int(people[index]), r.person, r.distance))
    return out
