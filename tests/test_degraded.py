"""The degraded development case: old-family-photo faces built from real chips."""

from __future__ import annotations

import numpy as np

from engine.training.degraded import Degradation, degrade_chip, degrade_chips


def sharp_chips(count: int = 4) -> np.ndarray:
    """Generated chips with fine detail: a checkerboard under a colour gradient."""
    y, x = np.mgrid[0:150, 0:150]
    board = ((x // 3 + y // 3) % 2 * 120).astype(np.float32)
    chips = []
    for k in range(count):
        colour = np.stack([board + 40 + k * 10, board * 0.5 + 60, 200 - board * 0.8], axis=-1)
        chips.append(np.clip(colour, 0, 255).astype(np.uint8))
    return np.stack(chips)


def detail(chips: np.ndarray) -> float:
    """Mean absolute difference of neighbouring pixels: what blur and down-sampling remove."""
    grey = chips.astype(np.float32).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=-1)).mean())


def test_each_chip_keeps_its_size_and_loses_its_detail() -> None:
    chips = sharp_chips()
    degraded = degrade_chips(chips, seed=0)
    assert degraded.shape == chips.shape and degraded.dtype == np.uint8
    assert detail(degraded) < 0.5 * detail(chips)
    assert not np.array_equal(degraded, chips)


def test_the_same_seed_gives_the_same_case_and_another_seed_another() -> None:
    chips = sharp_chips()
    assert np.array_equal(degrade_chips(chips, seed=3), degrade_chips(chips, seed=3))
    assert not np.array_equal(degrade_chips(chips, seed=3), degrade_chips(chips, seed=4))
    # A chip's recipe depends on its own index only: a subset degrades the same way.
    assert np.array_equal(degrade_chips(chips, seed=3)[:2], degrade_chips(chips[:2], seed=3))


def test_grey_recipes_are_grey_and_dark_ones_darker() -> None:
    chips = sharp_chips(1)
    grey = Degradation(grey_share=1.0, sepia_share=0.0, brightness=(1.0, 1.0), noise_sigma=(0.0, 0.0),
                       jpeg_quality=(95, 95))
    out = degrade_chip(chips[0], np.random.default_rng(0), grey).astype(np.int16)
    assert np.abs(out[..., 0] - out[..., 1]).mean() < 3 and np.abs(out[..., 1] - out[..., 2]).mean() < 3
    dark = Degradation(brightness=(0.4, 0.4), noise_sigma=(0.0, 0.0), jpeg_quality=(95, 95), grey_share=0.0,
                       sepia_share=0.0)
    bright = Degradation(brightness=(1.0, 1.0), noise_sigma=(0.0, 0.0), jpeg_quality=(95, 95), grey_share=0.0,
                         sepia_share=0.0)
    dark_mean = degrade_chip(chips[0], np.random.default_rng(0), dark).mean()
    bright_mean = degrade_chip(chips[0], np.random.default_rng(0), bright).mean()
    assert abs(dark_mean / bright_mean - 0.4) < 0.03
