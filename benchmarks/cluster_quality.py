"""Clustering and recognition quality on real faces (LFW identities with >= 10 images), to
choose a model version's `cluster_linkage` and `auto_assign_distance` (the default version's:
the one lfw_identity_embeddings.py embedded with).

The images are split: each identity's first 5 images are what tests/test_cluster_quality_lfw.py
uses, so the threshold is chosen on the rest (images 6 onwards) and only reported on the
first 5.  Needs benchmarks/lfw_identity_embeddings.py's cache.

    python benchmarks/cluster_quality.py
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from common import machine_line, print_table
from lfw_identity_embeddings import CACHE

from engine.evaluation.clusters import cluster_quality
from engine.library.identities.clustering import FREE, ClusteringProblem, cluster_faces
from engine.library.identities.recognition import recognise
from engine.model_versions import DEFAULT_VERSION

TEST_IMAGES = 5
MIN_FACES = 3
THRESHOLDS = [0.30, 0.35, 0.40, 0.425, 0.45, 0.475, 0.50, 0.55, 0.60]
PRECISION_GOAL = 0.99  # BCubed precision: per face, not dominated by the largest identities
# A newer version must not merge more than dlib-resnet-v1 did at its chosen level (0.50) on
# the same calibration faces (measured there: BCubed precision 0.9909).
V1_CALIBRATION_PRECISION = 0.9909
AUTO_DISTANCES = [0.45, 0.50, 0.55, 0.60, 0.65]
SUGGEST_DISTANCES = [0.60, 0.65, 0.70, 0.75, DEFAULT_VERSION.threshold]
UNKNOWN_PEOPLE = 30  # identities never labelled: their faces should stay unknown
AUTO_PRECISION_GOAL = 0.995


def split() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    data = np.load(CACHE)
    names, vectors, paths = data["names"], DEFAULT_VERSION.prepare(data["vectors"]), data["paths"]
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
    print(f"model version {DEFAULT_VERSION.name}")
    (cal_x, cal_y), (test_x, test_y) = split()
    headers = ["split", "linkage", "faces", "people", "clusters", "unsorted", "pair P", "pair R", "BCubed P", "BCubed R", "BCubed F"]
    rows, chosen, as_precise = [], None, None
    for threshold in THRESHOLDS:
        q = evaluate(cal_x, cal_y, threshold)
        rows.append(row("calibration (images 6+)", threshold, q))
        if q.bcubed_precision >= PRECISION_GOAL:
            chosen = threshold
        if q.bcubed_precision >= V1_CALIBRATION_PRECISION:
            as_precise = threshold
    print(f"min faces per person {MIN_FACES}; choose the largest threshold with calibration BCubed precision >= {PRECISION_GOAL}")
    print_table(headers, rows)
    if chosen is None:
        print("no threshold reaches the precision goal")
        return
    print(f"\nchosen: {chosen:.2f}; the largest at least as precise as dlib-resnet-v1's level: {as_precise} "
          f"(model version has {DEFAULT_VERSION.cluster_linkage:.3f})")
    print_table(headers, [row("test (images 1-5)", t, evaluate(test_x, test_y, t)) for t in THRESHOLDS])
    recognition_table(cal_x, cal_y, test_x, test_y)


def recognition_table(ref_x, ref_y, query_x, query_y) -> None:  # noqa: ANN001
    """Labelled faces: images 6+ of all but UNKNOWN_PEOPLE identities.  Queries: images 1-5
    of everyone; those of the unlabelled identities must stay unknown."""
    unknown = set(np.random.default_rng(0).choice(query_y.max() + 1, UNKNOWN_PEOPLE, replace=False).tolist())
    labelled = np.array([y not in unknown for y in ref_y.tolist()])
    known_query = np.array([y not in unknown for y in query_y.tolist()])
    rows = []
    for auto, suggest in [(a, s) for a in AUTO_DISTANCES for s in SUGGEST_DISTANCES]:
        version = replace(DEFAULT_VERSION, auto_assign_distance=auto, suggest_distance=suggest)
        found = recognise(ref_x[labelled], ref_y[labelled], query_x, version)
        auto_hits = [r for r in found if r.level == "auto"]
        suggested = [r for r in found if r.level == "suggested"]
        auto_right = sum(query_y[r.query] == r.person for r in auto_hits)
        sugg_right = sum(query_y[r.query] == r.person for r in suggested)
        unknown_auto = sum(not known_query[r.query] for r in auto_hits)
        unknown_suggested = sum(not known_query[r.query] for r in suggested)
        rows.append([
            f"{auto:.2f}", f"{suggest:.2f}", f"{len(auto_hits) / known_query.sum():.3f}",
            f"{auto_right / max(len(auto_hits), 1):.4f}", f"{len(suggested) / len(query_y):.3f}",
            f"{sugg_right / max(len(suggested), 1):.3f}", f"{unknown_auto / (~known_query).sum():.4f}",
            f"{unknown_suggested / (~known_query).sum():.3f}",
        ])
    print(f"\nrecognition (k-NN, {len(ref_y[labelled])} labelled faces of {len(set(ref_y[labelled].tolist()))} people; "
          f"{len(query_y)} queries, {(~known_query).sum()} of them of {UNKNOWN_PEOPLE} unlabelled people)")
    print_table(["auto distance", "suggest distance", "auto share of known", "auto precision", "suggested share",
                 "suggestion precision", "unknown faces auto-assigned", "unknown faces suggested"], rows)


if __name__ == "__main__":
    main()
