"""The detector's own layer arithmetic against torch's plain convolution (generated data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.alignment import pyramid_halve
from engine.detector import SingleOutputConv2d


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
