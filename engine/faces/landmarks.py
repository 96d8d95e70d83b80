"""dlib's 5-point shape predictor (an ensemble of regression trees), vectorised in numpy.

The arithmetic follows dlib exactly (float32 where dlib uses float, the same rounding), so
landmarks are identical to `dlib.shape_predictor`.  Parsing the 9 MB file in Python takes
seconds, so it is converted once into an .npz keyed by the file's hash.
"""

from __future__ import annotations

import logging
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.dlib.file_format import DlibReader, read_model_bytes
from engine.errors import ModelFileError
from engine.faces.geometry import similarity_transform
from engine.paths import atomic_write_bytes, cache_dir

log = logging.getLogger(__name__)

_CACHE_FORMAT = 1


@dataclass(frozen=True)
class ShapePredictorModel:
    initial_shape: np.ndarray  # (P, 2) float32, box-normalised
    split_idx1: np.ndarray  # (C, T, S) int32 feature indices
    split_idx2: np.ndarray  # (C, T, S) int32
    split_thresh: np.ndarray  # (C, T, S) float32
    leaf_values: np.ndarray  # (C, T, S+1, P, 2) float32
    anchor_idx: np.ndarray  # (C, F) int32
    deltas: np.ndarray  # (C, F, 2) float32

    @property
    def num_parts(self) -> int:
        return int(self.initial_shape.shape[0])


@dataclass(frozen=True)
class _Cascade:
    split_idx1: np.ndarray  # (trees, splits) int32
    split_idx2: np.ndarray
    split_thresh: np.ndarray  # (trees, splits) float32
    leaf_values: np.ndarray  # (trees, splits + 1, parts, 2) float32


def _read_cascade(r: DlibReader, num_parts: int) -> _Cascade:
    """One cascade's trees, read as one block of integers: every tree of a cascade has the
    same number of splits (a complete binary tree), so the block has a fixed layout per tree:
    splits, (idx1, idx2, threshold) per split, leaves, then per leaf a 2P x 1 float matrix."""
    num_trees = r.read_uint()
    start = r.pos
    num_splits = r.read_uint() if num_trees else 0
    r.pos = start
    leaf_ints = 2 + 2 * (2 * num_parts)  # -rows, -cols, then (mantissa, exponent) per value
    per_tree = 1 + 4 * num_splits + 1 + (num_splits + 1) * leaf_ints
    block = np.asarray(r.read_ints(num_trees * per_tree), dtype=np.float64).reshape(num_trees, per_tree)
    splits = block[:, 1 : 1 + 4 * num_splits].reshape(num_trees, num_splits, 4)
    leaves = block[:, 2 + 4 * num_splits :].reshape(num_trees, num_splits + 1, leaf_ints)
    if np.any(block[:, 0] != num_splits):
        raise r.fail("cascades of different shapes are not supported")
    if np.any(block[:, 1 + 4 * num_splits] != num_splits + 1):
        raise r.fail("tree is not a complete binary tree")
    if np.any(splits[:, :, :2] < 0):
        raise r.fail("negative split feature index")
    rows, cols = -leaves[:, :, 0], -leaves[:, :, 1]
    if np.any(rows < 0) or np.any(cols < 0) or np.any(rows * cols != 2 * num_parts):
        raise r.fail("leaf size does not match the number of parts")
    return _Cascade(
        split_idx1=splits[:, :, 0].astype(np.int32),
        split_idx2=splits[:, :, 1].astype(np.int32),
        split_thresh=r.floats_from_ints(splits[:, :, 2:]).astype(np.float32).reshape(num_trees, num_splits),
        leaf_values=r.floats_from_ints(leaves[:, :, 2:]).astype(np.float32).reshape(num_trees, num_splits + 1, num_parts, 2),
    )


def _parse(data: bytes, path: Path) -> ShapePredictorModel:
    r = DlibReader(data, path)
    r.expect_int(1, "shape predictor")
    initial = r.read_float_matrix().reshape(-1)
    if initial.size == 0 or initial.size % 2:
        raise r.fail("invalid initial shape")
    num_parts = initial.size // 2
    num_cascades = r.read_uint()
    if not 0 < num_cascades < 1000:
        raise r.fail(f"implausible cascade count {num_cascades}")
    cascades = [_read_cascade(r, num_parts) for _ in range(num_cascades)]
    if len({c.split_idx1.shape for c in cascades}) != 1:
        raise r.fail("cascades of different shapes are not supported")
    if r.read_uint() != num_cascades:
        raise r.fail("anchor list does not match the cascades")
    anchors = []
    for _ in range(num_cascades):
        count = r.read_uint()
        anchors.append([r.read_uint() for _ in range(count)])
    if r.read_uint() != num_cascades:
        raise r.fail("delta list does not match the cascades")
    deltas = []
    for _ in range(num_cascades):
        count = r.read_uint()
        deltas.append(r.read_floats(2 * count).reshape(count, 2))
    if r.remaining:
        raise r.fail(f"{r.remaining} unexpected bytes after the shape predictor")
    model = ShapePredictorModel(
        initial_shape=initial.reshape(num_parts, 2).astype(np.float32),
        split_idx1=np.stack([c.split_idx1 for c in cascades]),
        split_idx2=np.stack([c.split_idx2 for c in cascades]),
        split_thresh=np.stack([c.split_thresh for c in cascades]),
        leaf_values=np.stack([c.leaf_values for c in cascades]),
        anchor_idx=np.array(anchors, dtype=np.int32),
        deltas=np.array(deltas, dtype=np.float32),
    )
    _validate(model, path)
    return model


def _validate(model: ShapePredictorModel, path: Path) -> None:
    num_features = model.anchor_idx.shape[1]
    if model.deltas.shape[:2] != model.anchor_idx.shape:
        raise ModelFileError(path, "feature deltas do not match the anchors")
    for name, idx in (("split", model.split_idx1), ("split", model.split_idx2)):
        if idx.min(initial=0) < 0 or idx.max(initial=0) >= num_features:
            raise ModelFileError(path, f"{name} feature index out of range")
    if model.anchor_idx.min(initial=0) < 0 or model.anchor_idx.max(initial=0) >= model.num_parts:
        raise ModelFileError(path, "anchor index out of range")
    for array in (model.initial_shape, model.split_thresh, model.leaf_values, model.deltas):
        if not np.all(np.isfinite(array)):
            raise ModelFileError(path, "shape predictor holds NaN or infinite values")


def _cache_path(digest: str) -> Path:
    return cache_dir() / "models" / f"shape_predictor_v{_CACHE_FORMAT}_{digest[:24]}.npz"


def _load_cached(cache_file: Path) -> ShapePredictorModel | None:
    try:
        with np.load(cache_file, allow_pickle=False) as npz:
            return ShapePredictorModel(**{name: npz[name] for name in ShapePredictorModel.__annotations__})
    except FileNotFoundError:
        return None  # the first start: built below
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
        log.warning("the landmark model's cache %s is damaged; rebuilding it", cache_file, exc_info=True)
        return None


def load_shape_predictor(path: str | Path, use_cache: bool = True) -> ShapePredictorModel:
    path = Path(path)
    data = read_model_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    cache_file = _cache_path(digest)
    if use_cache:
        cached = _load_cached(cache_file)
        if cached is not None:
            return cached
    model = _parse(data, path)
    if use_cache:
        buffer = io.BytesIO()
        np.savez(buffer, **{name: getattr(model, name) for name in ShapePredictorModel.__annotations__})
        try:
            atomic_write_bytes(cache_file, buffer.getvalue())
        except OSError as exc:  # a read-only cache only costs time on the next start
            log.warning("cannot cache the landmark model in %s: %s", cache_file, exc)
    return model


def _round_half_up(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5)


def predict_landmarks(
    model: ShapePredictorModel, grey: np.ndarray, boxes: np.ndarray, subpixel: bool = False
) -> np.ndarray:
    """Landmarks (N, P, 2) in image pixels for N boxes [left, top, right, bottom] (dlib's
    inclusive integer rectangles) on a uint8 grey image (rgb summed and //3).  Rounded to
    int64 as dlib does, or float64 with `subpixel`."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = boxes.shape[0]
    if n == 0:
        return np.zeros((0, model.num_parts, 2), dtype=np.int64)
    height, width = grey.shape
    left, top = boxes[:, 0:1], boxes[:, 1:2]
    box_w, box_h = boxes[:, 2:3] - left, boxes[:, 3:4] - top
    num_trees, num_splits = model.split_idx1.shape[1:]
    depth = int(np.log2(num_splits + 1))
    tree_ids = np.arange(num_trees)[None, :]
    face_ids = np.arange(n)[:, None]
    current = np.broadcast_to(model.initial_shape, (n, model.num_parts, 2)).astype(np.float32)
    grey_flat = grey.reshape(-1)
    for cascade in range(model.split_idx1.shape[0]):
        # Similarity from the mean shape to the current estimate, in double, used in float.
        rotation_scale = np.stack(
            [similarity_transform(model.initial_shape, current[i])[0] for i in range(n)]
        ).astype(np.float32)
        deltas = model.deltas[cascade]  # (F, 2)
        # m @ delta as dlib computes it: m00*dx + m01*dy, each product and the sum in float32.
        moved = np.empty((n, deltas.shape[0], 2), dtype=np.float32)
        for row in range(2):
            moved[..., row] = (
                rotation_scale[:, None, row, 0] * deltas[None, :, 0] + rotation_scale[:, None, row, 1] * deltas[None, :, 1]
            )
        points = moved + current[:, model.anchor_idx[cascade], :]  # float32 (N, F, 2)
        px = _round_half_up(left + points[..., 0].astype(np.float64) * box_w).astype(np.int64)
        py = _round_half_up(top + points[..., 1].astype(np.float64) * box_h).astype(np.int64)
        inside = (px >= 0) & (px < width) & (py >= 0) & (py < height)
        flat = np.where(inside, py * width + px, 0)
        features = np.where(inside, grey_flat[flat], 0).astype(np.float32)  # (N, F)
        idx1, idx2 = model.split_idx1[cascade], model.split_idx2[cascade]
        thresh = model.split_thresh[cascade]
        node = np.zeros((n, num_trees), dtype=np.int64)
        for _ in range(depth):
            f1 = features[face_ids, idx1[tree_ids, node]]
            f2 = features[face_ids, idx2[tree_ids, node]]
            go_left = (f1 - f2) > thresh[tree_ids, node]
            node = np.where(go_left, 2 * node + 1, 2 * node + 2)
        leaf = model.leaf_values[cascade][tree_ids, node - num_splits]  # (N, T, P, 2)
        # dlib adds the trees' outputs one after another in float32: a sequential cumsum.
        stacked = np.concatenate([current[:, None], leaf], axis=1)
        current = np.cumsum(stacked, axis=1, dtype=np.float32)[:, -1]
    x = left + current[..., 0].astype(np.float64) * box_w
    y = top + current[..., 1].astype(np.float64) * box_h
    points = np.stack([x, y], axis=-1)
    return points if subpixel else _round_half_up(points).astype(np.int64)


def grey_for_landmarks(rgb: np.ndarray) -> np.ndarray:
    """dlib's intensity of an rgb pixel: (r + g + b) // 3."""
    # Three in-place adds: 10x faster than .sum(axis=2) over the short last axis.
    grey = rgb[:, :, 0].astype(np.uint16)
    grey += rgb[:, :, 1]
    grey += rgb[:, :, 2]
    grey //= 3
    return grey.astype(np.uint8)
