"""dlib's MMOD CNN face detector (mmod_human_face_detector.dat) in torch.

dlib runs the network once over a single image that tiles the whole image pyramid (each
level 5/6 of the previous), so faces of any size above the 80x80 window are found in one
pass.  This module reproduces that layout and the float arithmetic of its resizing, the
mapping of output cells back to photo pixels, and dlib's non-maximum suppression, so the
boxes equal dlib's and the scores agree to about 1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.dlib_network_file import parse_network_file
from engine.errors import ModelFileError
from engine.geometry import lround
from engine.networks.dlib_layers import conv_with_affine

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


class MmodNetwork(nn.Module):
    def __init__(self, convs: list[nn.Conv2d]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs[:-1]:
            x = F.relu_(conv(x))  # in place: 4% faster (no fresh activation per layer)
        return self.convs[-1](x)


class SingleOutputConv2d(nn.Conv2d):
    """A k x k convolution to one output channel, run as one matrix product (every input
    cell times every kernel tap) and k*k shifted adds.  oneDNN runs the detector's last
    layer (45 -> 1, 9 x 9) at a tenth of the speed of the others; this takes half its time
    (measured).  The sums run in another order: scores differ by about 1e-6."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> SingleOutputConv2d:
        single = cls(conv.in_channels, 1, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
        single.load_state_dict(conv.state_dict())
        return single

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size[0]
        if x.shape[0] != 1 or self.stride != (1, 1) or self.kernel_size != (k, k) or self.padding[0] != self.padding[1]:
            return super().forward(x)
        _, channels, height, width = x.shape
        pad = self.padding[0]
        taps = self.weight[0].permute(1, 2, 0).reshape(k * k, channels)  # tap (dy, dx) -> weights
        cells = x[0].permute(1, 2, 0).reshape(height * width, channels)  # a view when channels-last
        products = (taps @ cells.T).reshape(k * k, height, width).detach().numpy()
        # out[y, x] = sum over taps of products[tap, y + dy - pad, x + dx - pad]: add each
        # tap's plane into a frame k - 1 wider on every side, then cut the valid window.
        frame = np.zeros((height + 2 * (k - 1), width + 2 * (k - 1)), dtype=np.float32)
        for tap in range(k * k):
            dy, dx = divmod(tap, k)
            frame[k - 1 - dy : k - 1 - dy + height, k - 1 - dx : k - 1 - dx + width] += products[tap]
        top = k - 1 - pad
        out = frame[top : top + height + 2 * pad - k + 1, top : top + width + 2 * pad - k + 1]
        if self.bias is not None:
            out = out + np.float32(self.bias[0].item())
        return torch.from_numpy(np.ascontiguousarray(out))[None, None]


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


def _resize_bilinear_like_dlib(src: torch.Tensor, out: torch.Tensor) -> None:
    """dlib's resize_image for float images (H, W, C), written into `out` (H', W', C): its
    SSE path computes column positions in float, four at a time, and blends in float; the
    columns left over use double positions.

    Every product and sum below is a separate float32 operation, as in dlib, so the levels
    match dlib's to the last bit.  Pixels stay interleaved (channels last, as the network
    wants them), so rows are gathered as whole memory blocks and nothing is transposed."""
    in_h, in_w = src.shape[:2]
    out_h, out_w = out.shape[:2]
    x_scale = (in_w - 1) / max(out_w - 1, 1)
    y_scale = (in_h - 1) / max(out_h - 1, 1)
    ys = np.cumsum(np.concatenate([[-y_scale], np.full(out_h, y_scale)]))[1:]
    top = np.floor(ys).astype(np.int64)
    bottom = np.minimum(top + 1, in_h - 1)
    tb = ys - top
    rows_top = src.index_select(0, torch.from_numpy(top))  # (H', W, C)
    rows_bottom = src.index_select(0, torch.from_numpy(bottom))

    # SIMD columns: lane m starts at float(x + m*x_scale) and steps by float(4*x_scale).
    step4 = np.float32(4 * x_scale)
    x0 = -4 * x_scale
    blocks = out_w // 4 + 1
    lanes = np.empty((4, blocks), dtype=np.float32)
    for m in range(4):
        seq = np.empty(blocks + 1, dtype=np.float32)
        seq[0] = np.float32(x0 + m * x_scale)
        seq[1:] = step4
        lanes[m] = np.cumsum(seq, dtype=np.float32)[1:]
    simd_x = lanes.T.reshape(-1)  # column 4j+m
    left_simd = simd_x.astype(np.int32)  # truncation, as _mm_cvttps_epi32
    # The SSE loop stops at the first block whose last lane would read past the image;
    # every column from there on takes the scalar path.
    last_lane_right = left_simd[3::4] + 1
    overrun = np.nonzero(last_lane_right >= in_w)[0]
    valid_blocks = int(overrun[0]) if overrun.size else blocks
    simd_cols = min(4 * valid_blocks, out_w)
    if simd_cols:
        left = left_simd[:simd_cols].astype(np.int64)
        lr_np = (simd_x[:simd_cols] - left.astype(np.float32)).astype(np.float32)
        # Column weights repeated per channel, so each product below is a plain 2-D
        # (rows x interleaved columns) operation: much faster than broadcasting over C.
        channels = src.shape[2]
        lr = torch.from_numpy(np.repeat(lr_np, channels))[None, :]
        inv_lr = torch.from_numpy(np.repeat((np.float32(1) - lr_np).astype(np.float32), channels))[None, :]
        tb_f = torch.from_numpy(tb.astype(np.float32))[:, None]
        inv_tb_f = torch.from_numpy((1 - tb).astype(np.float32))[:, None]
        left_t = torch.from_numpy(left)
        right_t = left_t + 1
        flat = (out_h, simd_cols * channels)
        # ((tl_w * tl + tr_w * tr) + bl_w * bl) + br_w * br, each weight a float product.
        total = rows_top.index_select(1, left_t).view(flat).mul_(inv_tb_f * inv_lr)
        term = rows_top.index_select(1, right_t)
        term.view(flat).mul_(inv_tb_f * lr)
        total.add_(term.view(flat))
        torch.index_select(rows_bottom, 1, left_t, out=term).view(flat).mul_(tb_f * inv_lr)
        total.add_(term.view(flat))
        torch.index_select(rows_bottom, 1, right_t, out=term).view(flat).mul_(tb_f * lr)
        total.add_(term.view(flat))
        out[:, :simd_cols] = total.view(out_h, simd_cols, channels)
    if simd_cols < out_w:
        start = simd_cols
        xs_tail = np.cumsum(np.concatenate([[-x_scale + start * x_scale], np.full(out_w - start, x_scale)]))[1:]
        left = np.floor(xs_tail).astype(np.int64)
        right = np.minimum(left + 1, in_w - 1)
        lr_np = (xs_tail - left).astype(np.float32)
        lr = torch.from_numpy(lr_np)[None, :, None]
        inv_lr = torch.from_numpy((np.float32(1) - lr_np).astype(np.float32))[None, :, None]
        left_t, right_t = torch.from_numpy(left), torch.from_numpy(right)
        upper = (inv_lr * rows_top.index_select(1, left_t) + lr * rows_top.index_select(1, right_t)).double()
        lower = (inv_lr * rows_bottom.index_select(1, left_t) + lr * rows_bottom.index_select(1, right_t)).double()
        tb_d = torch.from_numpy(tb)[:, None, None]
        out[:, start:] = ((1 - tb_d) * upper + tb_d * lower).float()


class FaceDetector:
    """Runs the MMOD network on an RGB uint8 image and returns dlib-identical detections."""

    def __init__(self, model_path: str | Path) -> None:
        model_path = Path(model_path)
        net = parse_network_file(model_path)
        if net.loss.get("type") != "mmod" or net.input.get("type") != "pyramid":
            raise ModelFileError(model_path, "not an MMOD detector network")
        layers = net.layers
        convs = []
        i = 0
        while i < len(layers):
            if layers[i].kind != "con":
                raise ModelFileError(model_path, f"unexpected detector layer {layers[i].kind}")
            affine = layers[i + 1] if i + 1 < len(layers) and layers[i + 1].kind == "affine" else None
            convs.append(conv_with_affine(layers[i], affine))
            i += 2 if affine is not None else 1
            if i < len(layers) and layers[i].kind == "relu":
                i += 1
        if convs[-1].out_channels == 1:
            convs[-1] = SingleOutputConv2d.from_conv(convs[-1])
        # channels_last lets oneDNN run these convolutions 1.5-2x faster on CPU (measured).
        self.network = MmodNetwork(convs).eval().to(memory_format=torch.channels_last)
        self.means = np.array(net.input["means"], dtype=np.float32)
        self.padding = int(net.input["padding"])
        self.outer_padding = int(net.input["outer_padding"])
        self.window = net.loss["window"]
        self.nms_iou = float(net.loss["nms_iou"])
        self.nms_covered = float(net.loss["nms_covered"])
        self._offset, self._stride = self._receptive_mapping(convs)

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
        tiled = torch.zeros((rows, cols, 3), dtype=torch.float32)
        left, top, right, bottom = rects[0]
        pixels = torch.from_numpy(np.require(rgb, requirements=["C", "W"])).float()
        tiled[top : bottom + 1, left : right + 1] = (pixels - torch.from_numpy(self.means)) / 256.0
        for (pl, pt, pr, pb), (ql, qt, qr, qb) in zip(rects[:-1], rects[1:]):
            _resize_bilinear_like_dlib(tiled[pt : pb + 1, pl : pr + 1], tiled[qt : qb + 1, ql : qr + 1])
        return tiled.permute(2, 0, 1)[None], rects

    def scores(self, rgb: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
        tiled, rects = self.tiled_input(rgb)
        with torch.inference_mode():
            out = self.network(tiled)
        return out[0, 0].numpy(), rects

    def detect(self, rgb: np.ndarray, threshold: float = 0.0) -> list[RawDetection]:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("detector expects an RGB uint8 image")
        if min(rgb.shape[:2]) < MIN_SEARCH_SIDE:
            return []  # no 80-px detection window fits: nothing to find
        score_map, rects = self.scores(rgb)
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
        for i, (l, t, r, b) in enumerate(rects):
            if l <= center[0] <= r and t <= center[1] <= b:
                best = i
                break
            nearest = np.array([min(max(center[0], l), r), min(max(center[1], t), b)])
            dist = float(np.hypot(*(nearest - center)))
            if dist < best_dist:
                best, best_dist = i, dist
        l, t = rects[best][0], rects[best][1]
        out = box - np.array([l, t, l, t], dtype=np.float64)
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
