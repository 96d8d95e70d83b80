"""Clustering quality on real faces (LFW identities with >= 10 images) as a function of the
average-linkage threshold, to choose `cluster_linkage` for a model version.

The images are split: each identity's first 5 images are what tests/test_cluster_quality_lfw.py
uses, so the threshold is chosen on the rest (images 6 onwards) and only reported on the
first 5.  Needs benchmarks/lfw_identity_embeddings.py's cache.

    python benchmarks/cluster_quality.py
"""

from __future__ import annotations

import numpy as np
from common import machine_line, print_table
from lfw_identity_embeddings import CACHE

from engine.library.cluster_metrics import cluster_quality
from engine.library.clustering import FREE, ClusteringProblem, cluster_faces
from engine.model_versions import DLIB_RESNET_V1

TEST_IMAGES = 5
MIN_FACES = 3
THRESHOLDS = [0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60]
PRECISION_GOAL = 0.99


def split() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    data = np.load(CACHE)
    names, vectors, paths = data["names"], DLIB_RESNET_V1.prepare(data["vectors"]), data["paths"]
    _, labels = np.unique(names, return_inverse=True)
    rank = np.array([int(p.rsplit("_", 1)[1].split(".")[0]) for p in paths])  # Name_0001.jpg -> 1
    test = rank <= TEST_IMAGES
    return (vectors[~test], labels[~test]), (vectors[test], labels[test])


def evaluate(vectors: np.ndarray, labels: np.ndarray, threshold: float):
    n = len(vectors)
    result = cluster_faces(ClusteringProblem(vectors, np.arange(n), np.full(n, FREE)), threshold)
    sizes = result.sizes()
    predicted = [int(c) if sizes[c] >= MIN_FACES else None for c in result.labels]
    return cluster_quality(labels.tolist(), predicted)


def row(name: str, threshold: float, q) -> list:  # noqa: ANN001
    return [name, f"{threshold:.2f}", q.faces, q.identities, q.clusters, f"{100 * q.unsorted_share:.1f}%",
            f"{q.pairwise_precision:.4f}", f"{q.pairwise_recall:.4f}", f"{q.bcubed_precision:.4f}",
            f"{q.bcubed_recall:.4f}", f"{q.bcubed_f:.4f}"]


def main() -> None:
    print(machine_line())
    (cal_x, cal_y), (test_x, test_y) = split()
    headers = ["split", "linkage", "faces", "people", "clusters", "unsorted", "pair P", "pair R", "BCubed P", "BCubed R", "BCubed F"]
    rows, chosen = [], None
    for threshold in THRESHOLDS:
        q = evaluate(cal_x, cal_y, threshold)
        rows.append(row("calibration (images 6+)", threshold, q))
        if q.pairwise_precision >= PRECISION_GOAL:
            chosen = threshold
    print(f"min faces per person {MIN_FACES}; choose the largest threshold with calibration pairwise precision >= {PRECISION_GOAL}")
    print_table(headers, rows)
    if chosen is None:
        print("no threshold reaches the precision goal")
        return
    print(f"\nchosen: {chosen:.2f} (model version has {DLIB_RESNET_V1.cluster_linkage:.2f})")
    print_table(headers, [row("test (images 1-5)", t, evaluate(test_x, test_y, t)) for t in sorted({chosen, DLIB_RESNET_V1.cluster_linkage})])


if __name__ == "__main__":
    main()
