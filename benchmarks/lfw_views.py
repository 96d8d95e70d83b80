"""Does averaging more views of a face (dlib's "jitter" idea, made deterministic) buy LFW
accuracy?  Chosen on pairsDevTrain.txt only, reported on pairs.txt.

Landmark views cut the chip from the landmarks moved by a small similarity (scale, rotation,
shift); chip views turn the chip itself (what the app does: a stored face can be embedded
again from its chip alone).  Every view is also embedded mirrored.  A recipe is a set of
views whose unit vectors are summed (dlib-resnet-v1 is {identity} with its mirror).
Embeddings are cached per image so recipes are compared in seconds; the last lines give the
chosen recipe's threshold (best accuracy on all of DevTrain), as for dlib-resnet-v1.

    python benchmarks/lfw_views.py --cache /tmp/lfw_cache   # about 80 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
from common import faces_dir, machine_line, print_table

from engine.faces.alignment import rotate_chips
from engine.evaluation.verification import (
    best_threshold,
    accuracy_at,
    central_face_or_box,
    pair_distances,
    read_lfw_pairs,
    unique_images,
    verification_report,
)
from engine.faces.pipeline import FacePipeline

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


CHIP_ROTATIONS = (-5.0, 5.0)  # chip views: the chip turned by these (the app's dlib-resnet-v1-views6)


def embed_views(pipeline: FacePipeline, paths: list[Path], cache: Path) -> tuple[dict[Path, np.ndarray], dict[Path, np.ndarray]]:
    """Per image: (len(VIEWS), 2, 128) landmark views and (1 + len(CHIP_ROTATIONS), 2, 128)
    chip views, raw descriptors, [view, plain/mirrored]."""
    (cache / "landmark_views").mkdir(parents=True, exist_ok=True)
    (cache / "chip_views").mkdir(parents=True, exist_ok=True)
    landmark_views: dict[Path, np.ndarray] = {}
    chip_views: dict[Path, np.ndarray] = {}
    start = time.perf_counter()
    for done, path in enumerate(paths, start=1):
        key = path.parent.name + "__" + path.stem + ".npy"
        stored = [cache / "landmark_views" / key, cache / "chip_views" / key]
        if all(s.exists() for s in stored):
            landmark_views[path], chip_views[path] = np.load(stored[0]), np.load(stored[1])
            continue
        images = pipeline.prepare(path)
        box, _ = central_face_or_box(pipeline, images.detect_rgb)
        points = pipeline.landmarks(images.align_rgb, images.boxes_for_alignment(box))[0]
        moved = np.stack([moved_landmarks(points, *view[1:]) for view in VIEWS])
        chips = pipeline.chips(images.align_rgb, moved)
        chips = np.concatenate([chips, *(rotate_chips(chips[:1], angle) for angle in CHIP_ROTATIONS)])
        vectors = pipeline.embedder.embed(np.concatenate([chips, chips[:, :, ::-1]]))
        both = np.stack([vectors[: len(chips)], vectors[len(chips) :]], axis=1).astype(np.float32)
        landmark_views[path], chip_views[path] = both[: len(VIEWS)], both[[0, *range(len(VIEWS), len(chips))]]
        np.save(stored[0], landmark_views[path])
        np.save(stored[1], chip_views[path])
        if done % 200 == 0:
            rate = done / (time.perf_counter() - start)
            print(f"  {done}/{len(paths)} images, {rate:.1f}/s", flush=True)
    return landmark_views, chip_views


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
    views, chip_views = embed_views(pipeline, paths, args.cache)

    recipes: list[tuple[str, dict, tuple[int, ...], bool]] = [
        ("identity only", views, (0,), False), ("identity + mirror (dlib-resnet-v1)", views, (0,), True)]
    groups = {
        "zoom": (1, 2), "rotate": (3, 4), "shift x": (5, 6), "shift y": (7, 8),
    }
    for size in range(1, len(groups) + 1):
        for names in itertools.combinations(groups, size):
            chosen = (0, *itertools.chain.from_iterable(groups[n] for n in names))
            recipes.append((" + ".join(["identity", *names]) + " + mirror", views, chosen, True))
    chosen_recipe = ("chip turned -5, 0, +5 degrees + mirror (dlib-resnet-v1-views6)", chip_views,
                     tuple(range(1 + len(CHIP_ROTATIONS))), True)
    recipes.append(chosen_recipe)

    rows = []
    for name, source, chosen, mirror in recipes:
        embeddings = recipe_embeddings(source, chosen, mirror)
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
    # The chosen recipe in the app's scale (2 x the mean of the unit vectors), raw comparison.
    _, source, chosen, mirror = chosen_recipe
    embeddings = {p: v * 2 / (len(chosen) * 2) for p, v in recipe_embeddings(source, chosen, mirror).items()}
    d, same, _, _ = pair_distances(train, embeddings, _distance)
    threshold = best_threshold(d, same)
    print(f"dlib-resnet-v1-views6: DevTrain threshold {threshold:.4f} (accuracy on all of DevTrain "
          f"{100 * accuracy_at(d, same, threshold):.2f}%)")


if __name__ == "__main__":
    main()
