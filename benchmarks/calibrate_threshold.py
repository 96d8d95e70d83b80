"""Choose how dlib-resnet-v1 descriptors are compared: raw or L2-normalised, and the
distance threshold, by measurement on LFW pairsDevTrain.txt; then check it on pairsDevTest.

    python benchmarks/calibrate_threshold.py
"""

from __future__ import annotations

import time

import numpy as np
from common import OUT_DIR, faces_dir, machine_line, print_table

from engine.evaluation import (
    accuracy_at,
    best_threshold,
    embed_central_faces,
    pair_distances,
    read_lfw_pairs,
    unique_images,
    verification_report,
)
from engine.model_versions import ModelVersion
from engine.pipeline import FacePipeline


def _embed(pipeline: FacePipeline, pairs_file: str) -> tuple[list, dict, int]:
    root = faces_dir() / "lfw_deepfunneled"
    pairs = read_lfw_pairs(root / pairs_file, root)
    paths = unique_images(pairs)
    start = time.perf_counter()
    run = embed_central_faces(pipeline, paths)
    print(f"{pairs_file}: {len(paths)} images embedded in {time.perf_counter() - start:.0f} s, "
          f"{len(run.fallbacks)} without a detected face (central box used)")
    return pairs, run.embeddings, len(run.fallbacks)


def main() -> None:
    print(machine_line())
    pipeline = FacePipeline()
    train_pairs, train_emb, _ = _embed(pipeline, "pairsDevTrain.txt")
    test_pairs, test_emb, _ = _embed(pipeline, "pairsDevTest.txt")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    choices = {}
    for normalise in (False, True):
        version = ModelVersion("candidate", "dlib-resnet29", 128, normalise, 0.0, "")
        d, same, folds, _ = pair_distances(train_pairs, train_emb, version.distance)
        cv = verification_report(d, same, folds)
        threshold = best_threshold(d, same)
        dt, st, _, _ = pair_distances(test_pairs, test_emb, version.distance)
        choices[normalise] = (cv.accuracy_mean, threshold)
        rows.append([
            "L2-normalised" if normalise else "raw",
            f"{100 * cv.accuracy_mean:.2f} ± {100 * cv.accuracy_std:.2f}",
            f"{threshold:.4f}",
            f"{100 * accuracy_at(d, same, threshold):.2f}",
            f"{100 * accuracy_at(dt, st, threshold):.2f}",
        ])
    print_table(["descriptors", "DevTrain 10-fold acc %", "threshold (all DevTrain)", "DevTrain acc %", "DevTest acc %"], rows)
    chosen = max(choices, key=lambda k: choices[k][0])
    print(f"chosen: {'L2-normalised' if chosen else 'raw'} descriptors, threshold {choices[chosen][1]:.4f}")


if __name__ == "__main__":
    main()
