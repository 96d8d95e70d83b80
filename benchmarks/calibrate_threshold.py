"""Choose how model version dlib-resnet-v1 turns a face into an embedding and compares two
of them, by measurement on LFW pairsDevTrain.txt only; then report pairsDevTest.txt.

Candidates: landmarks rounded to pixels (as dlib) or sub-pixel; the chip alone or averaged
with its mirror image; raw or L2-normalised vectors.  The winner is the best 10-fold
accuracy on DevTrain; its threshold is the best-accuracy threshold on all of DevTrain.

    python benchmarks/calibrate_threshold.py          # about 10 minutes on 2 cores
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
from common import faces_dir, machine_line, print_table

from engine.evaluation.verification import (
    accuracy_at,
    best_threshold,
    central_face_or_box,
    pair_distances,
    read_lfw_pairs,
    unique_images,
    verification_report,
)
from engine.faces.landmarks import grey_for_landmarks, predict_landmarks
from engine.faces.pipeline import FacePipeline


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def embed_variants(pipeline: FacePipeline, paths: list[Path]) -> dict[tuple[bool, bool], dict[Path, np.ndarray]]:
    out: dict[tuple[bool, bool], dict[Path, np.ndarray]] = {k: {} for k in itertools.product((False, True), repeat=2)}
    for path in paths:
        images = pipeline.prepare(path)
        box, _ = central_face_or_box(pipeline, images.detect_rgb)
        rgb = images.align_rgb
        box = images.boxes_for_alignment(box)
        grey = grey_for_landmarks(rgb)
        for subpixel in (False, True):
            points = predict_landmarks(pipeline.shape_predictor, grey, box, subpixel=subpixel)
            chip = pipeline.chips(rgb, points)
            plain, mirrored = pipeline.embedder.embed(np.concatenate([chip, chip[:, :, ::-1]]))
            out[(subpixel, False)][path] = plain
            out[(subpixel, True)][path] = _unit(plain) + _unit(mirrored)
    return out


def main() -> None:
    print(machine_line())
    pipeline = FacePipeline()
    root = faces_dir() / "lfw_deepfunneled"
    sets = {}
    for name in ("pairsDevTrain.txt", "pairsDevTest.txt"):
        pairs = read_lfw_pairs(root / name, root)
        start = time.perf_counter()
        sets[name] = (pairs, embed_variants(pipeline, unique_images(pairs)))
        print(f"{name}: {len(unique_images(pairs))} images in {time.perf_counter() - start:.0f} s")
    rows, scores = [], {}
    for (subpixel, flip), normalise in itertools.product(itertools.product((False, True), repeat=2), (False, True)):
        def distance(a: np.ndarray, b: np.ndarray, normalise: bool = normalise) -> np.ndarray:
            return np.linalg.norm((_unit(a) - _unit(b)) if normalise else (a - b), axis=-1)

        train_pairs, train_emb = sets["pairsDevTrain.txt"]
        test_pairs, test_emb = sets["pairsDevTest.txt"]
        d, same, folds, _ = pair_distances(train_pairs, train_emb[(subpixel, flip)], distance)
        cv = verification_report(d, same, folds)
        threshold = best_threshold(d, same)
        dt, st, _, _ = pair_distances(test_pairs, test_emb[(subpixel, flip)], distance)
        key = (subpixel, flip, normalise)
        scores[key] = (cv.accuracy_mean, threshold)
        rows.append([
            "sub-pixel" if subpixel else "rounded", "chip + mirror" if flip else "chip", "L2" if normalise else "raw",
            f"{100 * cv.accuracy_mean:.2f} ± {100 * cv.accuracy_std:.2f}", f"{threshold:.4f}",
            f"{100 * accuracy_at(dt, st, threshold):.2f}",
        ])
    print_table(["landmarks", "embedding", "compare", "DevTrain 10-fold acc %", "threshold", "DevTest acc % at it"], rows)
    best = max(scores, key=lambda k: scores[k][0])
    print(f"chosen (best DevTrain 10-fold): subpixel={best[0]} flip_average={best[1]} l2_normalize={best[2]} "
          f"threshold={scores[best][1]:.4f}")


if __name__ == "__main__":
    main()
