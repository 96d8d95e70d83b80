"""The detector's own layer arithmetic against torch's plain convolution (generated data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.faces.alignment import pyramid_halve
from engine.dlib.mmod import SingleOutputConv2d, widen_channels
from engine.faces.detector import _resize_into_tile


@pytest.mark.parametrize(("channels", "kernel", "padding", "height", "width"), [(45, 9, 4, 37, 52), (3, 5, 2, 1, 9), (8, 3, 0, 20, 11), (4, 9, 4, 5, 5)])
def test_single_output_convolution_equals_conv2d(channels, kernel, padding, height, width) -> None:
    torch.manual_seed(channels + kernel)
    plain = nn.Conv2d(channels, 1, kernel, padding=padding)
    single = SingleOutputConv2d.from_conv(plain)
    x = torch.randn(1, channels, height, width)
    with torch.inference_mode():
        expected = plain(x)
        for layout in (torch.contiguous_format, torch.channels_last):
            got = single(x.contiguous(memory_format=layout))
            assert got.shape == expected.shape
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_single_output_convolution_falls_back_for_batches() -> None:
    plain = nn.Conv2d(4, 1, 3, padding=1)
    single = SingleOutputConv2d.from_conv(plain)
    x = torch.randn(3, 4, 10, 12)
    with torch.inference_mode():
        torch.testing.assert_close(single(x), plain(x))


def _halve_by_definition(image: np.ndarray) -> np.ndarray:
    """pyramid_down<2> written out pixel by pixel: the [1 4 6 4 1] kernel on both axes,
    output (r, c) centred on input (2r + 2, 2c + 2), integer division by 256."""
    weights = [1, 4, 6, 4, 1]
    height, width = image.shape[:2]
    rows, cols = len(range(2, height - 2, 2)), (width - 3) // 2
    out = np.zeros((rows, cols, 3), dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            total = np.zeros(3, dtype=np.int64)
            for i, wy in enumerate(weights):
                for j, wx in enumerate(weights):
                    total += wy * wx * image[2 * r + i, 2 * c + j].astype(np.int64)
            out[r, c] = total // 256
    return out


@pytest.mark.parametrize("shape", [(9, 9), (10, 11), (16, 23), (21, 14)])
def test_pyramid_halving_by_definition(shape) -> None:
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    image[0, 0] = image[-1, -1] = 255
    np.testing.assert_array_equal(pyramid_halve(image), _halve_by_definition(image))
    np.testing.assert_array_equal(pyramid_halve(np.full((*shape, 3), 255, np.uint8)), np.full_like(_halve_by_definition(image), 255))


def _dlib_sse_columns(in_w: int, out_w: int) -> np.ndarray:
    """dlib resize_image's column positions, stepped the way its SSE loop steps them: four
    float lanes starting at float(m * x_scale), each adding float(4 * x_scale) per block;
    from the first block whose last lane would read past the image, double positions."""
    x_scale = (in_w - 1) / max(out_w - 1, 1)
    lanes = [np.float32(m * x_scale) for m in range(4)]
    step = np.float32(4 * x_scale)
    positions: list[float] = []
    while len(positions) < out_w and int(lanes[3]) + 1 < in_w:
        positions.extend(float(v) for v in lanes)
        lanes = [np.float32(v + step) for v in lanes]
    positions = positions[:out_w]
    x = -x_scale + len(positions) * x_scale
    while len(positions) < out_w:
        x += x_scale
        positions.append(x)
    return np.array(positions)


def _tile_with_level(level: np.ndarray, out_h: int, out_w: int) -> tuple[torch.Tensor, tuple, tuple]:
    """A tiled image holding `level` (H, W, 3) at an offset, with room for the next level."""
    in_h, in_w = level.shape[:2]
    tiled = torch.zeros((in_h + out_h + 9, in_w + 7, 3))
    tiled[3 : 3 + in_h, 2 : 2 + in_w] = torch.from_numpy(level)
    source = (2, 3, 2 + in_w - 1, 3 + in_h - 1)
    target = (5, 6 + in_h, 5 + out_w - 1, 6 + in_h + out_h - 1)
    return tiled, source, target


@pytest.mark.parametrize(("in_w", "out_w"), [(923, 769), (1700, 1416), (9, 7), (30, 25)])
def test_pyramid_level_samples_at_dlibs_drifting_column_positions(in_w, out_w) -> None:
    """A ramp (value = column / 1024) comes out as dlib's sample positions.  The float lanes
    drift by up to 7e-3 px on wide images, 20x the tolerance, so plain positions would fail."""
    ramp = np.repeat((np.arange(in_w, dtype=np.float32) / 1024)[None, :, None], 3, axis=2)
    level = np.repeat(ramp, 6, axis=0)
    tiled, source, target = _tile_with_level(level, 5, out_w)
    _resize_into_tile(tiled.permute(2, 0, 1)[None], source, target)
    left, top, right, bottom = target
    got = tiled[top : bottom + 1, left : right + 1, 0].numpy().astype(np.float64) * 1024
    expected = _dlib_sse_columns(in_w, out_w)
    assert np.abs(got - expected[None, :]).max() < 3e-4
    if in_w > 1000:
        assert np.abs(expected - np.arange(out_w) * (in_w - 1) / (out_w - 1)).max() > 6e-3


def test_pyramid_level_is_dlibs_bilinear_blend() -> None:
    """Random pixels against dlib's blend written out per pixel in double (rows in double,
    as dlib computes them; columns at the SSE positions)."""
    rng = np.random.default_rng(7)
    in_h, in_w, out_h, out_w = 37, 53, 30, 44
    level = (rng.random((in_h, in_w, 3)) - 0.5).astype(np.float32)
    tiled, source, target = _tile_with_level(level, out_h, out_w)
    _resize_into_tile(tiled.permute(2, 0, 1)[None], source, target)
    left, top, right, bottom = target
    got = tiled[top : bottom + 1, left : right + 1].numpy()
    xs, y_scale = _dlib_sse_columns(in_w, out_w), (in_h - 1) / (out_h - 1)
    expected = np.zeros((out_h, out_w, 3))
    for r in range(out_h):
        y = r * y_scale
        t = int(np.floor(y))
        b, tb = min(t + 1, in_h - 1), y - t
        for c in range(out_w):
            lft = int(np.floor(xs[c]))
            rgt, lr = min(lft + 1, in_w - 1), xs[c] - lft
            expected[r, c] = (1 - tb) * ((1 - lr) * level[t, lft] + lr * level[t, rgt]) + tb * ((1 - lr) * level[b, lft] + lr * level[b, rgt])
    assert np.abs(got - expected).max() < 1e-5
    assert np.all(tiled[top : bottom + 1, : left].numpy() == 0)  # nothing written outside the target


def test_widened_channels_compute_the_same_network() -> None:
    torch.manual_seed(3)
    convs = [nn.Conv2d(3, 5, 3, stride=2, padding=1), nn.Conv2d(5, 45, 3, padding=1), nn.Conv2d(45, 1, 5, padding=2)]
    wide = widen_channels(convs)
    assert [c.out_channels for c in wide] == [8, 48, 1] and [c.in_channels for c in wide] == [3, 8, 48]
    x = torch.randn(1, 3, 33, 41)
    with torch.inference_mode():
        narrow_out, wide_out = x, x
        for i, (narrow, widened) in enumerate(zip(convs, wide, strict=True)):
            narrow_out, wide_out = narrow(narrow_out), widened(wide_out)
            if i < len(convs) - 1:
                narrow_out, wide_out = torch.relu(narrow_out), torch.relu(wide_out)
                assert torch.all(wide_out[:, narrow.out_channels :] == 0)
        torch.testing.assert_close(wide_out, narrow_out, atol=1e-5, rtol=1e-5)
