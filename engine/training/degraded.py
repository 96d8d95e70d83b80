"""Faces as family archives degrade them: a development case where the base model struggles.

LFW faces are sharp, frontal press photos on which the pretrained network makes almost no
mistakes, so a fine-tune can show nothing there.  Old prints, scans and phone photos of
them are not like that: the face is small (24 to 40 px across), blurred, re-compressed,
grey or sepia, dark, and noisy.  `degrade_chips` applies those to aligned face chips, each
chip with its own random recipe from a seed, so the same seed gives the same case.

The degradation works on the aligned chip, not on the photo: detection and alignment of
such faces are not part of what it measures (the fine-tune trains on chips).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

FACE_SHARE_OF_CHIP = 2 / 3  # dlib's 150-px chip: the face spans about the middle 100 px


@dataclass(frozen=True)
class Degradation:
    """Ranges each chip's recipe is drawn from."""

    face_px: tuple[float, float] = (24.0, 40.0)  # face width in the degraded original
    blur_px: tuple[float, float] = (0.0, 1.0)  # Gaussian radius, at that small size
    jpeg_quality: tuple[int, int] = (20, 60)
    grey_share: float = 0.4
    sepia_share: float = 0.3
    brightness: tuple[float, float] = (0.35, 1.0)  # low light: the whole chip darker
    noise_sigma: tuple[float, float] = (2.0, 10.0)  # grain of an old scan, in 0..255 levels


def degrade_chip(chip: np.ndarray, rng: np.random.Generator, how: Degradation = Degradation()) -> np.ndarray:
    """One (H, W, 3) uint8 chip, degraded and brought back to its size."""
    height, width = chip.shape[:2]
    image = Image.fromarray(chip)
    scale = rng.uniform(*how.face_px) / (width * FACE_SHARE_OF_CHIP)
    small = (max(8, round(width * scale)), max(8, round(height * scale)))
    image = image.resize(small, Image.Resampling.BILINEAR)
    radius = rng.uniform(*how.blur_px)
    if radius > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    pixels = np.asarray(image, dtype=np.float32)
    colour = rng.uniform()
    if colour < how.grey_share + how.sepia_share:
        grey = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        tint = np.array([1.0, 1.0, 1.0] if colour < how.grey_share else [1.07, 0.92, 0.72], dtype=np.float32)
        pixels = grey[..., None] * tint
    pixels = pixels * rng.uniform(*how.brightness)
    pixels = pixels + rng.normal(scale=rng.uniform(*how.noise_sigma), size=pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(how.jpeg_quality[0], how.jpeg_quality[1] + 1)))
    buffer.seek(0)
    with Image.open(buffer) as compressed:
        restored = compressed.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(restored, dtype=np.uint8)


def degrade_chips(chips: np.ndarray, seed: int = 0, how: Degradation = Degradation()) -> np.ndarray:
    """Every chip with its own recipe; chip i's recipe depends only on (seed, i)."""
    return np.stack([degrade_chip(chip, np.random.default_rng([seed, i]), how) for i, chip in enumerate(chips)])
