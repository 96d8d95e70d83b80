"""Grouping a whole library of real faces: every LFW photo (13,233 photos of 5,749 people, most
of them in one photo only), as a big library of mostly strangers would be.

The levels were chosen on the 158 LFW people with 10+ photos (cluster_quality.py); here the
same grouping meets thousands of people it never saw, each with one or a few faces, which is
where wrong merges come from.  Against, on the same faces (the default version's embedding of
each photo's largest face, lfw_identity_embeddings.py --min-images 1):

- dlib's Chinese whispers, the clustering of dlib's face examples and of tools built on the
  face_recognition library (a graph of the pairs within a distance, labels spread along it);
- DBSCAN (scikit-learn), the density rule PhotoPrism's documentation names for its face
  clusters (a core face has enough neighbours within a distance; its neighbours join it);
  Immich's "minimum faces" and "maximum distance" settings are the same two knobs.

As the app shows them, only groups of 3+ faces are people; smaller ones stay unsorted.  A
"face in someone else's group" is a face whose identity is not its group's majority.

    python benchmarks/lfw_all_clusters.py
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
from common import machine_line, print_table
from lfw_identity_embeddings import cache_path

from engine.evaluation.clusters import cluster_quality
from engine.library.identities.clustering import FREE, ClusteringProblem, cluster_faces
from engine.library.storage.preferences import STRICTNESS
from engine.model_versions import DEFAULT_VERSION

MIN_FACES = 3
# Average of squared distances; the first is the users' Strict setting.
OURS = [DEFAULT_VERSION.cluster_linkage * STRICTNESS["strict"], 0.40, 0.425, 0.45, DEFAULT_VERSION.cluster_linkage, 0.50, 0.55]
# Plain distances: dlib's face-clustering example uses 0.5 and face_recognition's tolerance is
# 0.6; the sweep goes on until they lose as much precision as the app may.
WHISPERS = [0.50, 0.55, 0.60, 0.65, 0.70]
DBSCAN_EPS = [0.50, 0.55, 0.60, 0.65, 0.70]


def shown(labels: np.ndarray) -> list[int | None]:
    """Group keys as the app shows them: groups under MIN_FACES are unsorted (None)."""
    sizes = Counter(labels.tolist())
    return [int(c) if c >= 0 and sizes[c] >= MIN_FACES else None for c in labels.tolist()]


def row(method: str, level: float, truth: np.ndarray, predicted: list[int | None], seconds: float) -> list:
    quality = cluster_quality(truth.tolist(), predicted)
    members: dict[int, list[int]] = {}
    for face, group in enumerate(predicted):
        if group is not None:
            members.setdefault(group, []).append(int(truth[face]))
    elsewhere = mixed = 0
    for identities in members.values():
        _, majority = Counter(identities).most_common(1)[0]
        elsewhere += len(identities) - majority
        mixed += majority < len(identities)
    in_groups = sum(len(m) for m in members.values())
    return [method, f"{level:.3f}", len(members), in_groups, f"{quality.bcubed_precision:.4f}",
            f"{quality.bcubed_recall:.4f}", f"{quality.pairwise_precision:.4f}", f"{quality.pairwise_recall:.4f}",
            elsewhere, mixed, f"{seconds:.1f} s"]


def ours(vectors: np.ndarray, level: float) -> np.ndarray:
    n = len(vectors)
    return cluster_faces(ClusteringProblem(vectors, np.arange(n), np.full(n, FREE)), level).labels


def whispers(vectors: np.ndarray, level: float) -> np.ndarray:
    import dlib

    return np.array(dlib.chinese_whispers_clustering([dlib.vector(v.tolist()) for v in vectors], level))


def dbscan(vectors: np.ndarray, level: float) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=level, min_samples=MIN_FACES).fit(vectors).labels_


def main() -> None:
    print(machine_line())
    if not cache_path(1).exists():
        raise SystemExit(f"no embeddings of every LFW photo at {cache_path(1)}: "
                         "run python benchmarks/lfw_identity_embeddings.py --min-images 1 first (about 9 minutes)")
    data = np.load(cache_path(1))
    names, vectors = data["names"], DEFAULT_VERSION.prepare(data["vectors"]).astype(np.float64)
    _, truth = np.unique(names, return_inverse=True)
    counts = Counter(truth.tolist())
    print(f"{DEFAULT_VERSION.name}: {len(vectors)} faces of {len(counts)} people; "
          f"{sum(1 for c in counts.values() if c == 1)} people in one photo only, "
          f"{sum(1 for c in counts.values() if c >= MIN_FACES)} in {MIN_FACES}+ "
          f"(the app's grouping level: {DEFAULT_VERSION.cluster_linkage})")
    rows = []
    for method, levels, function in (("ours: average linkage", OURS, ours),
                                     ("dlib Chinese whispers", WHISPERS, whispers),
                                     ("DBSCAN", DBSCAN_EPS, dbscan)):
        for level in levels:
            started = time.perf_counter()
            labels = function(vectors, level)
            rows.append(row(method, level, truth, shown(np.asarray(labels)), time.perf_counter() - started))
    print_table(["method", "level", "people shown", "faces in them", "BCubed P", "BCubed R", "pair P", "pair R",
                 "faces in someone else's group", "groups mixing people", "time"], rows)


if __name__ == "__main__":
    main()
