"""Does averaging more views of a face (dlib's "jitter" idea, made deterministic) buy LFW
accuracy, and at what cost?  Chosen on pairsDevTrain.txt only, reported on pairs.txt.

Each view cuts the chip from the landmarks moved by a small similarity (scale, rotation,
shift); every view is also embedded mirrored.  A recipe is a set of views whose unit vectors
are summed (the stored dlib-resnet-v1 recipe is {identity} with its mirror).  Embeddings
are cached per image so recipes are compared in seconds.

    python benchmarks/lfw_views.py --cache /tmp/lfw_views   # about 40 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
from common import faces_dir, machine_line, print_table

from engine.evaluation import (
    CENTRAL_FACE_BOX,
    best_threshold,
    accuracy_at,
    central_face_box,
    pair_distances,
    read_lfw_pairs,
    unique_images,
    verification_report,
)
from engine.pipeline import FacePipeline

# (name, scale, degrees, shift x, shift y); shifts are fractions of the chip's side.
VIEWS = [
    ("identity", 1.0, 0.0, 0.0, 0.0),
    ("zoom in 4%", 1 / 1.04, 0.0, 0.0, 0.0),
    ("zoom out 4%", 1.04, 0.0, 0.0, 0.0),
    ("rotate -5", 1.0, -5.0, 0.0, 0.0),
    ("rotate +5", 1.0, 5.0, 0.0, 0.0),
    ("left 3%", 1.0, 0.0, -0.03, 0.0),
    ("right 3%", 1.0, 0.0, 0.03, 0.0),
    ("up 3%", 1.0, 0.0, 0.0, -0.03),
    ("down 3%", 1.0, 0.0, 0.0, 0.03),
]


def moved_landmarks(points: np.ndarray, scale: float, degrees: float, shift_x: float, shift_y: float) -> np.ndarray:
    """(5, 2) landmarks moved by a similarity about their centroid; shifts scale with the
    face (the outer-eye-corner distance is about 0.49 of the chip's side at padding 0.25)."""
    centre = points.mean(axis=0)
    theta = np.deg2rad(degrees)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    chip_side = np.linalg.norm(points[0] - points[2]) / 0.49
    return centre + scale * (points - centre) @ rotation.T + np.array([shift_x, shift_y]) * chip_side


def embed_views(pipeline: FacePipeline, paths: list[Path], cache: Path) -> dict[Path, np.ndarray]:
    """(len(VIEWS), 2, 128) raw descriptors per image: [view, plain/mirrored]."""
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[Path, np.ndarray] = {}
    start = time.perf_counter()
    for done, path in enumerate(paths, start=1):
        stored = cache / (path.parent.name + "__" + path.stem + ".npy")
        if stored.exists():
            out[path] = np.load(stored)
            continue
        images = pipeline.prepare(path)
        box = central_face_box(pipeline, images.detect_rgb)
        if box is None:
            h, w = images.detect_rgb.shape[:2]
            fx1, fy1, fx2, fy2 = CENTRAL_FACE_BOX
            box = np.array([[round(fx1 * w), round(fy1 * h), round(fx2 * w), round(fy2 * h)]], dtype=np.float64)
        points = pipeline.landmarks(images.align_rgb, images.boxes_for_alignment(box))[0]
        moved = np.stack([moved_landmarks(points, *view[1:]) for view in VIEWS])
        chips = pipeline.chips(images.align_rgb, moved)
        vectors = pipeline.embedder.embed(np.concatenate([chips, chips[:, :, ::-1]]))
        out[path] = np.stack([vectors[: len(VIEWS)], vectors[len(VIEWS) :]], axis=1).astype(np.float32)
        np.save(stored, out[path])
        if done % 200 == 0:
            rate = done / (time.perf_counter() - start)
            print(f"  {done}/{len(paths)} images, {rate:.1f}/s", flush=True)
    return out


def recipe_embeddings(views: dict[Path, np.ndarray], chosen: tuple[int, ...], mirror: bool) -> dict[Path, np.ndarray]:
    out = {}
    for path, vectors in views.items():
        picked = vectors[list(chosen)][:, : 2 if mirror else 1].reshape(-1, vectors.shape[-1])
        unit = picked / np.linalg.norm(picked, axis=1, keepdims=True)
        out[path] = unit.sum(axis=0)
    return out


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def _l2_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _distance(a / np.linalg.norm(a, axis=-1, keepdims=True), b / np.linalg.norm(b, axis=-1, keepdims=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lfw_views"))
    args = parser.parse_args()
    print(machine_line())
    root = faces_dir() / "lfw_deepfunneled"
    train = read_lfw_pairs(root / "pairsDevTrain.txt", root)
    test = read_lfw_pairs(root / "pairs.txt", root)
    paths = list(dict.fromkeys(unique_images(train) + unique_images(test)))
    print(f"{len(paths)} images ({len(unique_images(train))} DevTrain, {len(unique_images(test))} pairs.txt)")
    pipeline = FacePipeline()
    views = embed_views(pipeline, paths, args.cache)

    recipes: list[tuple[str, tuple[int, ...], bool]] = [("identity only", (0,), False), ("identity + mirror (stored)", (0,), True)]
    groups = {
        "zoom": (1, 2), "rotate": (3, 4), "shift x": (5, 6), "shift y": (7, 8),
    }
    for size in range(1, len(groups) + 1):
        for names in itertools.combinations(groups, size):
            chosen = (0, *itertools.chain.from_iterable(groups[n] for n in names))
            recipes.append((" + ".join(["identity", *names]) + " + mirror", chosen, True))

    rows = []
    for name, chosen, mirror in recipes:
        embeddings = recipe_embeddings(views, chosen, mirror)
        row = [name, len(chosen) * (2 if mirror else 1)]
        for compare in (_distance, _l2_distance):
            d, same, folds, _ = pair_distances(train, embeddings, compare)
            report = verification_report(d, same, folds)
            threshold = best_threshold(d, same)
            dt, st, ft, _ = pair_distances(test, embeddings, compare)
            test_report = verification_report(dt, st, ft)
            row += [f"{100 * report.accuracy_mean:.2f} ± {100 * report.accuracy_std:.2f}",
                    f"{100 * accuracy_at(dt, st, threshold):.2f}",
                    f"{100 * test_report.accuracy_mean:.2f} ± {100 * test_report.accuracy_std:.2f}"]
        rows.append(row)
    print_table(["views", "chips", "DevTrain 10-fold (raw)", "pairs.txt at DevTrain thr (raw)", "pairs.txt 10-fold (raw)",
                 "DevTrain 10-fold (L2)", "pairs.txt at DevTrain thr (L2)", "pairs.txt 10-fold (L2)"], rows)


if __name__ == "__main__":
    main()
