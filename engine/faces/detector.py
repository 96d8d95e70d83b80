"""dlib's MMOD CNN face detector (mmod_human_face_detector.dat) in torch.

dlib runs the network once over a single image that tiles the whole image pyramid (each
level 5/6 of the previous), so faces of any size above the 80x80 window are found in one
pass.  This module reproduces that layout, the sample positions and float blending of its
resizing, the mapping of output cells back to photo pixels, and dlib's non-maximum
suppression, so the boxes equal dlib's; the scores of the faces found agree with dlib's to
a few 1e-6 (at most 5e-5 anywhere in the score map).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.dlib.mmod import load_mmod_network
from engine.dlib.mmod_int8 import Int8MmodNetwork
from engine.faces.geometry import lround
from engine.faces.precision import Precision, choose_precision, computing_in

# Cells whose reduced-precision score comes within this of the threshold are scored again
# in float32: about 6x the largest bf16 score change measured anywhere in a map (0.04), and
# 3.6x the largest drop of an int8 score that float32 puts above the threshold (0.14 on 435
# photos; benchmarks/int8_detector.py).
EXACT_MARGIN = {"bf16": 0.25, "int8": 0.5}
_PYRAMID_RATE = 5.0 / 6.0  # pyramid_down<6>
_PYRAMID_UP = 6 / 5.0
_MIN_LEVEL_HEIGHT = 5
# Smallest image side searched; below it the network's strided layers run out of pixels.
MIN_SEARCH_SIDE = 32


@dataclass(frozen=True)
class RawDetection:
    """A face box in the pixel grid of the image given to the detector.

    Boxes follow dlib's inclusive convention: right and bottom are the last pixel inside."""

    left: int
    top: int
    right: int
    bottom: int
    score: float


def _pyramid_rects(height: int, width: int, padding: int, outer_padding: int) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """dlib's compute_tiled_image_pyramid_details: where each level sits in the tiled image.

    Returns rects as (left, top, right, bottom) inclusive, and the tiled image's rows, cols."""
    sizes = [(width, height)]
    w, h = width, height
    while True:
        h = int(np.floor(_PYRAMID_RATE * h))
        w = int(np.floor(_PYRAMID_RATE * w))
        if h * w == 0 or h < _MIN_LEVEL_HEIGHT:
            break
        sizes.append((w, h))
    total_height = sum(s[1] + padding for s in sizes) - 2 * padding
    column_height, prev_width = 0, 0
    for w, h in sizes:
        if w <= sizes[0][0] - prev_width - padding and (column_height - sizes[0][1]) * 2 >= total_height - sizes[0][1]:
            break
        column_height += h + padding
        prev_width = w
    column_height -= padding
    full_width = sizes[0][0]
    rects: list[tuple[int, int, int, int]] = []
    y = outer_padding
    i = 0
    while y < column_height + outer_padding and i < len(sizes):
        w, h = sizes[i]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    first = rects[0]
    while i < len(sizes):
        w, h = sizes[i]
        right, bottom = outer_padding + full_width - 1, y - 1
        rect = (right - (w - 1), bottom - (h - 1), right, bottom)
        overlaps_first = not (
            rect[2] < first[0] or rect[0] > first[2] or rect[3] < first[1] or rect[1] > first[3]
        )
        if overlaps_first:
            break
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, column_height + 2 * outer_padding, full_width + 2 * outer_padding


def _dlib_column_positions(in_w: int, out_w: int) -> np.ndarray:
    """Where dlib's resize_image samples each output column: its SSE path steps four float
    lanes, each starting at float(x + m * x_scale) and adding float(4 * x_scale), until a
    block would read past the image; the columns left over use double positions.  The
    float steps drift (up to about 1e-3 px), and the detector's scores follow that drift, so
    the positions are reproduced rather than recomputed."""
    x_scale = (in_w - 1) / max(out_w - 1, 1)
    blocks = out_w // 4 + 1
    lanes = np.empty((4, blocks), dtype=np.float32)
    for m in range(4):
        seq = np.empty(blocks + 1, dtype=np.float32)
        seq[0] = np.float32(-4 * x_scale + m * x_scale)
        seq[1:] = np.float32(4 * x_scale)
        lanes[m] = np.cumsum(seq, dtype=np.float32)[1:]
    simd_x = lanes.T.reshape(-1)  # column 4j+m
    last_lane_right = simd_x[3::4].astype(np.int32) + 1  # truncation, as _mm_cvttps_epi32
    overrun = np.nonzero(last_lane_right >= in_w)[0]
    simd_cols = min(4 * (int(overrun[0]) if overrun.size else blocks), out_w)
    xs = np.empty(out_w, dtype=np.float64)
    xs[:simd_cols] = simd_x[:simd_cols]
    if simd_cols < out_w:
        xs[simd_cols:] = np.cumsum(np.concatenate([[-x_scale + simd_cols * x_scale], np.full(out_w - simd_cols, x_scale)]))[1:]
    return xs


def _dlib_row_positions(in_h: int, out_h: int) -> np.ndarray:
    """dlib's row positions: a double accumulated once per output row."""
    y_scale = (in_h - 1) / max(out_h - 1, 1)
    return np.cumsum(np.concatenate([[-y_scale], np.full(out_h, y_scale)]))[1:]


def _grid_coordinates(positions: np.ndarray, size: int) -> np.ndarray:
    """float32 grid_sample coordinates (align_corners=True) that land on `positions`: of the
    floats next to the plain conversion, the one whose (g + 1) * ((size - 1) / 2), computed
    in float32 as grid_sample does, is nearest to the float position."""
    if size <= 1:
        return np.full(positions.shape, -1.0, dtype=np.float32)
    half = np.float32((size - 1) / 2)
    target = positions.astype(np.float32)
    plain = (positions / ((size - 1) / 2) - 1).astype(np.float32)
    steps = np.arange(-3, 4, dtype=np.float32)[:, None] * np.spacing(plain)[None, :]
    candidates = (plain[None, :] + steps).astype(np.float32)
    errors = np.abs((candidates + np.float32(1)) * half - target[None, :])
    return candidates[np.argmin(errors, axis=0), np.arange(positions.size)]


@lru_cache(maxsize=512)
def _axis_coordinates(axis: str, size_in: int, size_out: int) -> np.ndarray:
    """Grid coordinates of one axis of a level (photos of one camera share their sizes, so
    a scan computes each pyramid's coordinates once).  Shared between calls: never modify."""
    positions = _dlib_column_positions(size_in, size_out) if axis == "columns" else _dlib_row_positions(size_in, size_out)
    return _grid_coordinates(positions, size_in)


def _resize_into_tile(planar: torch.Tensor, source: tuple[int, int, int, int], target: tuple[int, int, int, int]) -> None:
    """One pyramid level: dlib's bilinear resize_image from the `source` rect of the tiled
    image (a (1, C, H, W) view) into its `target` rect.

    grid_sample does the sampling in one pass (2x faster than gathering the four neighbours
    as separate tensors) at dlib's own sample positions, blending in float with dlib's
    weights and order.  Only the rows' fractional weights round differently (float against
    dlib's double): levels agree with dlib's to about 5e-5 of the pixel range, and the
    detector's scores to about 5e-5 (the dlib reference tests allow 1e-3)."""
    left, top, right, bottom = source
    out_left, out_top, out_right, out_bottom = target
    in_h, in_w = bottom - top + 1, right - left + 1
    out_h, out_w = out_bottom - out_top + 1, out_right - out_left + 1
    grid = torch.empty((1, out_h, out_w, 2), dtype=torch.float32)
    grid[0, :, :, 0] = torch.from_numpy(_axis_coordinates("columns", in_w, out_w))[None, :]
    grid[0, :, :, 1] = torch.from_numpy(_axis_coordinates("rows", in_h, out_h))[:, None]
    level = F.grid_sample(planar[:, :, top : bottom + 1, left : right + 1], grid, mode="bilinear", padding_mode="border", align_corners=True)
    planar[:, :, out_top : out_bottom + 1, out_left : out_right + 1] = level


class FaceDetector:
    """Runs the MMOD network on an RGB uint8 image and returns dlib-identical detections."""

    def __init__(self, model_path: str | Path, precision: Precision | None = None) -> None:
        self.precision = precision or choose_precision()
        mmod, convs = load_mmod_network(model_path)
        self.network, net = mmod.network, mmod.file
        self.means = np.array(net.input["means"], dtype=np.float32)
        self.padding = int(net.input["padding"])
        self.outer_padding = int(net.input["outer_padding"])
        self.window = net.loss["window"]
        self.nms_iou = float(net.loss["nms_iou"])
        self.nms_covered = float(net.loss["nms_covered"])
        self._offset, self._stride = self._receptive_mapping(convs)
        self._margin_before, self._margin_after = self._margins_for(convs, self._offset, self._stride)
        self._int8 = None
        if self.precision.detector_int8:
            hidden = list(self.network.convs[:-1])
            self._int8 = Int8MmodNetwork(hidden, self.network.convs[-1], net.input["means"])

    @staticmethod
    def _margins_for(convs: list[nn.Conv2d], offset: float, stride: float) -> tuple[int, int]:
        """Cells a crop must reach before and after the cells it rescores so that their
        receptive fields lie inside it.  Cell c sees the input pixels offset + stride * c
        +- (field - 1) / 2, so with offset > 0 fewer cells are needed before than after
        (10 and 13 for this network, where one margin of 15 each side cost 37% more pixels
        around a face's few cells)."""
        field, jump = 1, 1
        for conv in convs:
            field += (conv.kernel_size[0] - 1) * jump
            jump *= conv.stride[0]
        half = (field - 1) / 2
        before = int(np.ceil((half - offset) / stride))
        after = int(np.ceil((half + offset + 1) / stride)) - 1
        return max(before, 0), max(after, 0)

    @staticmethod
    def _receptive_mapping(convs: list[nn.Conv2d]) -> tuple[float, float]:
        """Output cell c maps to input pixel offset + stride * c (dlib's map_output_to_input)."""
        offset, stride = 0.0, 1.0
        for conv in reversed(convs):
            s, p, k = conv.stride[0], conv.padding[0], conv.kernel_size[0]
            offset = offset * s - p + k // 2
            stride *= s
        return offset, stride

    def tiled_input(self, rgb: np.ndarray) -> tuple[torch.Tensor, list[tuple[int, int, int, int]]]:
        """The pyramid tiled into one (1, 3, H, W) channels-last tensor, and each level's place."""
        height, width = rgb.shape[:2]
        rects, rows, cols = _pyramid_rects(height, width, self.padding, self.outer_padding)
        # Made with its batch axis so the channels-last view has a whole image's batch
        # stride: torch quantised a view with a degenerate one (`permute(2, 0, 1)[None]`)
        # into plain NCHW, 11 ms instead of 2.6 and a slower first layer, 10% of the int8
        # network (measured on 0.5 MP pyramids; the scores are bit-identical).
        tiled = torch.zeros((1, rows, cols, 3), dtype=torch.float32)
        left, top, right, bottom = rects[0]
        pixels = torch.from_numpy(np.require(rgb, requirements=["C", "W"])).float()
        tiled[0, top : bottom + 1, left : right + 1] = (pixels - torch.from_numpy(self.means)) / 256.0
        planar = tiled.permute(0, 3, 1, 2)  # a channels-last (1, 3, H, W) view
        for source, target in itertools.pairwise(rects):
            _resize_into_tile(planar, source, target)
        return planar, rects

    def scores(self, rgb: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
        """The score map over the tiled pyramid.  In reduced precision (bf16 or int8), every
        cell that could reach `threshold` is scored again in float32 (see `_rescore_near`),
        so the cells that decide the detections hold float32 values."""
        tiled, rects = self.tiled_input(rgb)
        arithmetic = self.precision.detector
        with torch.inference_mode():
            if self._int8 is not None:
                out = self._int8(tiled)
            else:
                with computing_in(self.precision):  # bf16 or float32: the detector follows `name`
                    out = self.network(tiled)
        score_map = out[0, 0].float().numpy()
        if arithmetic != "fp32" and threshold is not None:
            score_map = score_map.copy()
            self._rescore_near(tiled, score_map, threshold - EXACT_MARGIN[arithmetic])
        return score_map, rects

    def _rescore_near(self, tiled: torch.Tensor, score_map: np.ndarray, level: float) -> None:
        """Cells above `level`, in groups, through the float32 network on crops of the tiled
        input.  bf16 moves scores by up to about 0.04 (int8 by up to 0.8) while neighbouring
        cells of one face often differ by less than 0.01: without this the winning cell, and so the box, moved
        one stride (8 px) on 12 of 157 faces (benchmarks/precision_check.py).  A crop that
        starts on a multiple of the network's stride and reaches the margins past its
        cells gives those cells exactly the full map's values (each cell's receptive field
        lies inside it); it costs about 0.03 MP per face against 0.5-2 MP for the map."""
        rows, cols = np.nonzero(score_map > level)
        if rows.size == 0:
            return
        stride, before, after = int(self._stride), self._margin_before, self._margin_after
        height, width = tiled.shape[2], tiled.shape[3]
        groups = _cell_groups(rows, cols, gap=before + after)
        area = sum((r1 - r0 + 1 + before + after) * (c1 - c0 + 1 + before + after) for r0, r1, c0, c1 in groups)
        if area * stride * stride > 0.6 * height * width:  # faces everywhere: one float32 map is cheaper
            with torch.inference_mode():
                score_map[...] = self.network(tiled)[0, 0].numpy()
            return
        for r0, r1, c0, c1 in groups:
            top, left = max(0, r0 - before), max(0, c0 - before)
            bottom, right = min(height, (r1 + after + 1) * stride), min(width, (c1 + after + 1) * stride)
            with torch.inference_mode():
                crop = self.network(tiled[:, :, top * stride : bottom, left * stride : right])[0, 0].numpy()
            block = crop[r0 - top : r1 - top + 1, c0 - left : c1 - left + 1]
            if block.shape != (r1 - r0 + 1, c1 - c0 + 1):  # cannot happen with the margin; never write a wrong shape
                raise RuntimeError(f"float32 rescoring crop misaligned: {block.shape}")
            score_map[r0 : r1 + 1, c0 : c1 + 1] = block

    def detect(self, rgb: np.ndarray, threshold: float = 0.0) -> list[RawDetection]:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("detector expects an RGB uint8 image")
        if min(rgb.shape[:2]) < MIN_SEARCH_SIDE:
            return []  # no 80-px detection window fits: nothing to find
        score_map, rects = self.scores(rgb, threshold)
        rows, cols = np.nonzero(score_map > threshold)
        if rows.size == 0:
            return []
        values = score_map[rows, cols].astype(np.float64)
        half_w = (self.window[0] - 1) / 2
        half_h = (self.window[1] - 1) / 2
        cx = self._offset + self._stride * cols
        cy = self._offset + self._stride * rows
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
        boxes = np.array([self._to_image_space(box, rects) for box in boxes])
        order = np.argsort(-values, kind="stable")
        kept: list[RawDetection] = []
        kept_boxes: list[np.ndarray] = []
        for idx in order:
            box = lround(boxes[idx])
            if any(self._overlaps(box, other) for other in kept_boxes):
                continue
            kept_boxes.append(box)
            kept.append(RawDetection(int(box[0]), int(box[1]), int(box[2]), int(box[3]), float(values[idx])))
        return kept

    @staticmethod
    def _to_image_space(box: np.ndarray, rects: list[tuple[int, int, int, int]]) -> np.ndarray:
        """dlib's tiled_pyramid_to_image: the level whose tile holds (or is nearest to) the
        box centre, then point_up (x * 1.2 + 0.3) once per level."""
        center = np.floor(np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) + 0.5)
        best, best_dist = 0, np.inf
        for i, (left, top, right, bottom) in enumerate(rects):
            if left <= center[0] <= right and top <= center[1] <= bottom:
                best = i
                break
            nearest = np.array([min(max(center[0], left), right), min(max(center[1], top), bottom)])
            dist = float(np.hypot(*(nearest - center)))
            if dist < best_dist:
                best, best_dist = i, dist
        left, top = rects[best][0], rects[best][1]
        out = box - np.array([left, top, left, top], dtype=np.float64)
        for _ in range(best):
            out = out * _PYRAMID_UP + 0.3
        return out

    def _overlaps(self, a: np.ndarray, b: np.ndarray) -> bool:
        """dlib test_box_overlap: intersection over the area of the bounding box of both."""
        il, it = max(a[0], b[0]), max(a[1], b[1])
        ir, ib = min(a[2], b[2]), min(a[3], b[3])
        if ir < il or ib < it:
            return False
        inner = float((ir - il + 1) * (ib - it + 1))
        outer = float((max(a[2], b[2]) - min(a[0], b[0]) + 1) * (max(a[3], b[3]) - min(a[1], b[1]) + 1))
        area_a = float((a[2] - a[0] + 1) * (a[3] - a[1] + 1))
        area_b = float((b[2] - b[0] + 1) * (b[3] - b[1] + 1))
        return inner / outer > self.nms_iou or inner / area_a > self.nms_covered or inner / area_b > self.nms_covered


def _cell_groups(rows: np.ndarray, cols: np.ndarray, gap: int) -> list[tuple[int, int, int, int]]:
    """Rectangles (r0, r1, c0, c1), inclusive, covering the cells; rectangles closer than
    `gap` cells are merged (their crops would overlap anyway)."""
    groups: list[list[int]] = [[r, r, c, c] for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]
    merged = True
    while merged:
        merged = False
        kept: list[list[int]] = []
        for rect in groups:
            for other in kept:
                if rect[0] <= other[1] + gap and other[0] <= rect[1] + gap and rect[2] <= other[3] + gap and other[2] <= rect[3] + gap:
                    other[0], other[1] = min(other[0], rect[0]), max(other[1], rect[1])
                    other[2], other[3] = min(other[2], rect[2]), max(other[3], rect[3])
                    merged = True
                    break
            else:
                kept.append(rect)
        groups = kept
    return [tuple(g) for g in groups]
