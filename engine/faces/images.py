"""Decode photos into RGB uint8 arrays in their displayed orientation.

Everything that can go wrong with a file on a user's disk (missing, a folder, empty,
truncated, not an image, absurdly large) becomes one `ImageLoadError` with the path and a
reason; the caller records it and moves on.  Large JPEGs are decoded at a reduced scale
(libjpeg's DCT scaling via Pillow's draft mode) when only a smaller image is needed.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import ImageLoadError
from engine.faces.image_damage import check_complete
from engine.user_files import open_photo_file

log = logging.getLogger(__name__)

try:  # HEIC/HEIF support; AVIF is native in Pillow >= 11.3.
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pillow_heif = None

# Refuse to decode more than this many pixels (a 30000x30000 header would need 2.7 GB).
DEFAULT_MAX_PIXELS = 120_000_000
# ... and more than this much memory at the peak of decoding: a 1.4 MB PNG of 10900 x 10900
# 16-bit RGBA pixels passes the pixel cap but took 3.4 GB to become RGB.
DEFAULT_MAX_DECODE_BYTES = 1 << 30


def decode_peak_bytes(mode: str, pixels: int) -> int:
    """Memory at the peak of turning an image of this Pillow mode into RGB: the decoded
    image, the conversion's intermediates (alpha flattened onto a white background, high
    bit depths through float64) and the RGB array."""
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or mode == "P":
        per_pixel = 4 + 4 + 4 + 3 + 3  # decoded, background, composite, RGB image, array
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        per_pixel = 4 + 8 + 1 + 3  # decoded, float64 values, grey, RGB
    else:
        per_pixel = max(1, len(mode)) + 3 + 3  # decoded, converted, array
    return pixels * per_pixel

PHOTO_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif", ".avif"}
)


@dataclass(frozen=True)
class LoadedPhoto:
    """A decoded photo.  `rgb` may be smaller than the photo: `scale` = rgb width / width."""

    path: Path
    rgb: np.ndarray  # (H, W, 3) uint8, displayed orientation
    width: int  # displayed size of the full photo
    height: int
    format: str

    @property
    def scale(self) -> float:
        return self.rgb.shape[1] / self.width


def _displayed_size(image: Image.Image) -> tuple[int, int]:
    """Size after EXIF orientation (5-8 swap width and height)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - damaged EXIF (any error) must not make a readable photo unreadable
        log.info("unreadable EXIF orientation in %s; shown as stored", getattr(image, "filename", "a photo"), exc_info=True)
        orientation = 1
    width, height = image.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to RGB uint8, scaling high bit depths and flattening alpha
    onto white (transparent areas of PNGs are usually meant as background)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        peak = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def load_photo(
    path: str | Path,
    max_side: int | None = None,
    max_output_pixels: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_DECODE_BYTES,
) -> LoadedPhoto:
    """Decode `path`.  With `max_side` / `max_output_pixels` the result is shrunk to fit
    (JPEGs are then decoded at reduced scale, which is several times faster); it is never
    enlarged.  `max_pixels` is the hard cap on pixels decoded from the file."""
    path = Path(path)
    reader, size = open_photo_file(path)
    try:
        with warnings.catch_warnings(), reader:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(reader) as image:
                check_complete(path, reader, image, size)
                return _decode(path, image, max_side, max_output_pixels, max_pixels, max_bytes)
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(path, "not a supported image format") from exc
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(path, "image is too large to decode safely") from exc
    except PermissionError as exc:
        raise ImageLoadError(path, "permission denied") from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(path, "file disappeared while reading") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason or isinstance(exc, EOFError):
            reason = f"file is truncated or damaged ({reason})"
        else:
            reason = f"cannot decode image ({reason})"
        raise ImageLoadError(path, reason) from exc
    except MemoryError as exc:
        raise ImageLoadError(path, "not enough memory to decode this image") from exc


def _decode(
    path: Path, image: Image.Image, max_side: int | None, max_output_pixels: int | None, max_pixels: int,
    max_bytes: int,
) -> LoadedPhoto:
    image_format = image.format or "unknown"
    width, height = _displayed_size(image)
    if width < 1 or height < 1:
        raise ImageLoadError(path, f"image has no pixels ({width}x{height})")
    scale = 1.0
    if max_side is not None and max(width, height) > max_side:
        scale = max_side / max(width, height)
    if max_output_pixels is not None and width * height > max_output_pixels:
        scale = min(scale, (max_output_pixels / (width * height)) ** 0.5)
    if image_format == "JPEG" and scale < 1.0:
        # libjpeg can decode at 1/2, 1/4 or 1/8 scale; draft picks the smallest that is
        # still at least the requested size (in stored orientation).
        raw_w, raw_h = image.size
        image.draft("RGB", (max(1, int(raw_w * scale)), max(1, int(raw_h * scale))))
    decoded_w, decoded_h = image.size
    if decoded_w * decoded_h > max_pixels:
        raise ImageLoadError(
            path, f"image is too large to decode safely ({decoded_w}x{decoded_h} pixels, limit {max_pixels})"
        )
    peak = decode_peak_bytes(image.mode, decoded_w * decoded_h)
    if peak > max_bytes:
        raise ImageLoadError(
            path, f"image is too large to decode safely ({decoded_w}x{decoded_h} pixels in mode {image.mode} would "
                  f"need about {peak / 1e9:.1f} GB of memory, limit {max_bytes / 1e9:.1f} GB)"
        )
    image.load()
    image = ImageOps.exif_transpose(image) or image
    rgb = _to_rgb(image)
    if scale < 1.0:
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        if (rgb.shape[1], rgb.shape[0]) != target:
            resized = Image.fromarray(rgb).resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
            rgb = np.asarray(resized)
    return LoadedPhoto(path=path, rgb=np.ascontiguousarray(rgb), width=width, height=height, format=image_format)
