"""Face verification evaluation: the LFW pairs protocol, 10-fold accuracy and VAL@FAR.

The same functions serve `facenet eval lfw`, threshold calibration, and (later) the
trainer's held-out validation, so every figure the app reports is computed one way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import EngineError, ImageLoadError
from engine.faces.pipeline import FacePipeline, in_runs


@dataclass(frozen=True)
class Pair:
    path_a: Path
    path_b: Path
    same: bool
    fold: int


@dataclass(frozen=True)
class VerificationReport:
    pairs: int
    accuracy_mean: float
    accuracy_std: float
    threshold_mean: float
    val_mean: float
    val_std: float
    far_mean: float
    far_target: float
    fold_accuracies: tuple[float, ...]


def _lfw_image(root: Path, name: str, number: str) -> Path:
    return root / name / f"{name}_{int(number):04d}.jpg"


def read_lfw_pairs(pairs_file: str | Path, root: str | Path, num_folds: int = 10) -> list[Pair]:
    """Parse pairs.txt ("10 300" header: 10 folds of 300 same + 300 different, in order) or
    the dev files ("1100" header: one set, split here into folds by position within class)."""
    pairs_file, root = Path(pairs_file), Path(root)
    try:
        lines = [line.split() for line in pairs_file.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise EngineError(f"cannot read pairs file {pairs_file}: {exc.strerror or exc}") from exc
    if not lines:
        raise EngineError(f"{pairs_file}: empty pairs file")
    header, body = lines[0], lines[1:]
    raw: list[tuple[Path, Path, bool]] = []
    for fields in body:
        if len(fields) == 3:
            raw.append((_lfw_image(root, fields[0], fields[1]), _lfw_image(root, fields[0], fields[2]), True))
        elif len(fields) == 4:
            raw.append((_lfw_image(root, fields[0], fields[1]), _lfw_image(root, fields[2], fields[3]), False))
        else:
            raise EngineError(f"{pairs_file}: malformed line {' '.join(fields)!r}")
    pairs: list[Pair] = []
    if len(header) == 2:
        sets, per_class = int(header[0]), int(header[1])
        if len(raw) != 2 * sets * per_class:
            raise EngineError(f"{pairs_file}: header promises {2 * sets * per_class} pairs, found {len(raw)}")
        for i, (a, b, same) in enumerate(raw):
            pairs.append(Pair(a, b, same, i // (2 * per_class)))
    else:
        counters = {True: 0, False: 0}
        for a, b, same in raw:
            pairs.append(Pair(a, b, same, counters[same] % num_folds))
            counters[same] += 1
    return pairs


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((distances <= threshold) == same))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """Threshold with the highest accuracy (midpoints between sorted distances)."""
    order = np.sort(np.unique(distances))
    if order.size == 0:
        return 0.0
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    # Vectorised accuracy for every candidate.
    d_same = np.sort(distances[same])
    d_diff = np.sort(distances[~same])
    true_accepts = np.searchsorted(d_same, candidates, side="right")
    false_accepts = np.searchsorted(d_diff, candidates, side="right")
    correct = true_accepts + (d_diff.size - false_accepts)
    return float(candidates[int(np.argmax(correct))])


def threshold_at_far(distances: np.ndarray, same: np.ndarray, far_target: float) -> float:
    """The largest threshold whose false accept rate on these pairs is at most far_target."""
    d_diff = np.sort(distances[~same])
    if d_diff.size == 0:
        return float(np.max(distances, initial=0.0))
    allowed = int(np.floor(far_target * d_diff.size))
    if allowed >= d_diff.size:
        return float(d_diff[-1])
    return float(np.nextafter(d_diff[allowed], -np.inf))


def verification_report(
    distances: np.ndarray, same: np.ndarray, folds: np.ndarray, far_target: float = 1e-3
) -> VerificationReport:
    """k-fold protocol: thresholds chosen on the other folds, measured on the held-out one."""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    folds = np.asarray(folds)
    accuracies, thresholds, vals, fars = [], [], [], []
    for fold in np.unique(folds):
        test = folds == fold
        train = ~test
        threshold = best_threshold(distances[train], same[train])
        thresholds.append(threshold)
        accuracies.append(accuracy_at(distances[test], same[test], threshold))
        far_threshold = threshold_at_far(distances[train], same[train], far_target)
        accepted = distances[test] <= far_threshold
        test_same = same[test]
        vals.append(float(accepted[test_same].mean()) if test_same.any() else 0.0)
        fars.append(float(accepted[~test_same].mean()) if (~test_same).any() else 0.0)
    return VerificationReport(
        pairs=int(distances.size),
        accuracy_mean=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        threshold_mean=float(np.mean(thresholds)),
        val_mean=float(np.mean(vals)),
        val_std=float(np.std(vals)),
        far_mean=float(np.mean(fars)),
        far_target=far_target,
        fold_accuracies=tuple(accuracies),
    )


def fold_mistakes(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Per pair: is it decided wrong at the threshold chosen on the other folds (the
    protocol of verification_report, pair by pair, so two models can be compared pair by pair)?"""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    folds = np.asarray(folds)
    wrong = np.zeros(distances.shape, dtype=bool)
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(distances[~test], same[~test])
        wrong[test] = (distances[test] <= threshold) != same[test]
    return wrong


@dataclass
class EmbeddingRun:
    """Embeddings of the images of a pairs list, with how each face was found."""

    embeddings: dict[Path, np.ndarray]
    fallbacks: list[Path]  # images where no face was detected and the central box was used
    failures: list[tuple[Path, str]]  # images that could not be read at all


def unique_images(pairs: Iterable[Pair]) -> list[Path]:
    seen: dict[Path, None] = {}
    for pair in pairs:
        seen.setdefault(pair.path_a, None)
        seen.setdefault(pair.path_b, None)
    return list(seen)


def pair_distances(
    pairs: list[Pair], embeddings: dict[Path, np.ndarray], distance: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Distances for pairs whose both images were embedded; counts the pairs dropped."""
    kept = [p for p in pairs if p.path_a in embeddings and p.path_b in embeddings]
    a = np.stack([embeddings[p.path_a] for p in kept]) if kept else np.zeros((0, 128), np.float32)
    b = np.stack([embeddings[p.path_b] for p in kept]) if kept else np.zeros((0, 128), np.float32)
    return (
        distance(a, b),
        np.array([p.same for p in kept], dtype=bool),
        np.array([p.fold for p in kept]),
        len(pairs) - len(kept),
    )


# Fallback box for photos where the detector finds no face, as fractions of the image:
# the LFW images are centred on the subject's face.  Measured as the median detected box on
# LFW deep-funneled (see benchmarks/lfw_eval.py); used only by the verification protocol.
CENTRAL_FACE_BOX = (0.28, 0.31, 0.68, 0.70)


def central_face_box(pipeline: FacePipeline, rgb: np.ndarray) -> np.ndarray | None:
    """The detected box (1, 4) whose centre is nearest the image centre, or None."""
    detections = pipeline.detect(rgb)
    if not detections:
        return None
    height, width = rgb.shape[:2]
    chosen = min(detections, key=lambda d: np.hypot((d.left + d.right) / 2 - width / 2, (d.top + d.bottom) / 2 - height / 2))
    return np.array([[chosen.left, chosen.top, chosen.right, chosen.bottom]], dtype=np.float64)


def central_face_or_box(pipeline: FacePipeline, rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """The face nearest the centre (1, 4), or CENTRAL_FACE_BOX when none is detected (True)."""
    box = central_face_box(pipeline, rgb)
    if box is not None:
        return box, False
    height, width = rgb.shape[:2]
    fx1, fy1, fx2, fy2 = CENTRAL_FACE_BOX
    return np.array([[round(fx1 * width), round(fy1 * height), round(fx2 * width), round(fy2 * height)]], float), True


def embed_central_faces(
    pipeline: FacePipeline,
    paths: list[Path],
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> EmbeddingRun:
    """Embed the face nearest the centre of each image (the LFW convention); where none is
    detected, align inside CENTRAL_FACE_BOX instead and record the fallback.  Runs of images
    go to `workers` threads (default: torch's thread count), as FacePipeline.analyze_many does."""
    run = EmbeddingRun(embeddings={}, fallbacks=[], failures=[])
    workers = torch.get_num_threads() if workers is None else workers

    def embed_run(chunk: list[Path]) -> list[tuple[Path, np.ndarray | None, bool, str]]:
        return [_central_embedding(pipeline, path) for path in chunk]

    runs = in_runs(embed_run, paths, workers) if workers > 1 else (_central_embedding(pipeline, p) for p in paths)
    for done, (path, embedding, fell_back, failure) in enumerate(runs, start=1):
        if embedding is None:
            run.failures.append((path, failure))
        else:
            if fell_back:
                run.fallbacks.append(path)
            run.embeddings[path] = embedding
        if progress is not None:
            progress(done, len(paths))
    return run


def _central_embedding(pipeline: FacePipeline, path: Path) -> tuple[Path, np.ndarray | None, bool, str]:
    try:
        images = pipeline.prepare(path)
    except ImageLoadError as exc:
        return path, None, False, exc.reason
    box, fell_back = central_face_or_box(pipeline, images.detect_rgb)
    _points, embeddings = pipeline.align_and_embed(images, box)
    return path, embeddings[0], fell_back, ""
