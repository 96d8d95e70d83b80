"""Choose a model version's `group_suggest_linkage`: how far an unnamed group may be from a
named person (or another unnamed group) and still be offered as "Is this group NAME?".

A simulated user on LFW identities with >= 10 images (benchmarks/lfw_identity_embeddings.py's
cache): the faces are grouped at the version's `cluster_linkage`; the user names the largest
group of every second identity (so half the people are strangers whose groups must not be
taken for someone named); every other group of 3+ faces stays unnamed.  At each level the
questions engine.library.questions.group_suggestions would ask are counted right when both sides are
mostly the same identity.  The level is the largest at which at least 90% of the faces the
questions settle are settled right on the calibration images (6 onwards): a question is
one click, its payoff is its faces, and the big right questions come first.  The first 5
images of each identity (what the tests use) are only reported: with 5 images no identity
has a second group, so every question there is about a stranger (the cost side).

    python benchmarks/group_suggestions.py
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from cluster_quality import MIN_FACES, split
from common import machine_line, print_table

from engine.library.identities.clustering import FREE, ClusteringProblem, cluster_faces
from engine.library.questions.group_suggestions import PersonFaces, propose
from engine.model_versions import DEFAULT_VERSION

LEVELS = [0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 1.00, 1.10]
RIGHT_GOAL = 0.90


def simulated_library(vectors: np.ndarray, labels: np.ndarray) -> tuple[list[PersonFaces], dict[int, int]]:
    """People after grouping and naming each identity's largest group; and each person's identity."""
    n = len(vectors)
    result = cluster_faces(ClusteringProblem(vectors, np.arange(n), np.full(n, FREE)), DEFAULT_VERSION.cluster_linkage)
    members: dict[int, list[int]] = {}
    for face, cluster in enumerate(result.labels.tolist()):
        members.setdefault(cluster, []).append(face)
    groups = {c: faces for c, faces in members.items() if len(faces) >= MIN_FACES}
    identity = {c: Counter(labels[faces].tolist()).most_common(1)[0][0] for c, faces in groups.items()}
    named: dict[int, int] = {}  # identity -> its largest group, for every second identity
    for cluster in sorted(groups, key=lambda c: (-len(groups[c]), c)):
        if identity[cluster] % 2 == 0:
            named.setdefault(identity[cluster], cluster)
    named_clusters = set(named.values())
    people = [
        PersonFaces(cluster, f"identity {identity[cluster]}" if cluster in named_clusters else None, np.array(faces),
                    np.array(faces), vectors[faces].astype(np.float64))
        for cluster, faces in groups.items()
    ]
    return people, identity


def score(people: list[PersonFaces], identity: dict[int, int], level: float) -> list:
    asked = propose(people, level)
    right = [s for s in asked if identity[s.group] == identity[s.other]]
    wrong = [s for s in asked if identity[s.group] != identity[s.other]]
    named = [s for s in asked if s.other_name is not None]
    share = len(right) / len(asked) if asked else float("nan")
    faces_right, faces_wrong = sum(s.settles for s in right), sum(s.settles for s in wrong)
    face_share = faces_right / (faces_right + faces_wrong) if asked else float("nan")
    return [f"{level:.2f}", len(asked), len(named), len(asked) - len(named), len(right), len(wrong), f"{share:.3f}",
            faces_right, faces_wrong, f"{face_share:.3f}"]


def main() -> None:
    print(machine_line())
    print(f"model version {DEFAULT_VERSION.name}, grouped at {DEFAULT_VERSION.cluster_linkage}")
    header = ["level", "questions", "is it NAME?", "same person?", "right", "wrong", "share right",
              "faces settled right", "faces settled wrong",
              "share of faces right"]
    chosen = None
    for title, (vectors, labels) in zip(("calibration: images 6+", "test: images 1-5"), split(), strict=True):
        people, identity = simulated_library(vectors, labels)
        unnamed = sum(1 for p in people if p.name is None)
        print(f"\n{title}: {len(vectors)} faces, {len(people)} groups of {MIN_FACES}+ faces, {unnamed} left unnamed")
        rows = [score(people, identity, level) for level in LEVELS]
        print_table(header, rows)
        if chosen is None:
            good = [level for level, row in zip(LEVELS, rows, strict=True) if row[1] and float(row[9]) >= RIGHT_GOAL]
            chosen = max(good) if good else None
            print(f"largest level with >= {RIGHT_GOAL:.0%} of the settled faces right: {chosen}")


if __name__ == "__main__":
    main()
