"""Photo loading: every format we promise, and a corpus of bad files generated here."""

from __future__ import annotations

import io
import struct
import time

import numpy as np
import pytest
from PIL import Image

from engine.errors import ImageLoadError
from engine.faces.images import load_photo


def _gradient(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=2).astype(np.uint8)


@pytest.mark.parametrize("fmt, ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("TIFF", "tif"), ("BMP", "bmp"), ("AVIF", "avif")])
def test_formats_decode_to_rgb(tmp_path, fmt, ext) -> None:
    pixels = _gradient(64, 48)
    path = tmp_path / f"photo.{ext}"
    Image.fromarray(pixels).save(path, fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP", "AVIF") else {}))
    photo = load_photo(path)
    assert photo.rgb.shape == (48, 64, 3) and photo.rgb.dtype == np.uint8
    assert (photo.width, photo.height) == (64, 48)
    lossless = fmt in ("PNG", "TIFF", "BMP")
    tolerance = 0 if lossless else 40
    assert np.abs(photo.rgb.astype(int) - pixels).mean() <= (0 if lossless else 6)
    assert np.abs(photo.rgb.astype(int) - pixels).max() <= tolerance or not lossless


def test_heic(tmp_path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pixels = _gradient(64, 48)
    path = tmp_path / "photo.heic"
    pillow_heif.from_pillow(Image.fromarray(pixels)).save(path, quality=95)
    photo = load_photo(path)
    assert photo.rgb.shape == (48, 64, 3)
    assert np.abs(photo.rgb.astype(int) - pixels).mean() < 6


def test_gif_first_frame(tmp_path) -> None:
    frames = [Image.new("RGB", (20, 10), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo = load_photo(path)
    assert photo.rgb.shape == (10, 20, 3)
    assert tuple(photo.rgb[5, 10]) == (255, 0, 0)


def test_cmyk_jpeg(tmp_path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(path, "JPEG", quality=95)  # pure red in CMYK
    photo = load_photo(path)
    r, g, b = photo.rgb[16, 16].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_png_scales_instead_of_clipping(tmp_path) -> None:
    path = tmp_path / "deep.png"
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    photo = load_photo(path)
    assert photo.rgb[0, :, 0].tolist() == [0, 128, 255]
    assert np.all(photo.rgb[..., 0] == photo.rgb[..., 2])


def test_palette_and_alpha_flatten_onto_white(tmp_path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:4] = (0, 128, 0, 255)  # opaque green top half, transparent bottom half
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    photo = load_photo(path)
    assert tuple(photo.rgb[0, 0]) == (0, 128, 0)
    assert tuple(photo.rgb[7, 7]) == (255, 255, 255)
    palette_path = tmp_path / "palette.png"
    Image.fromarray(rgba, "RGBA").convert("P").save(palette_path)
    assert load_photo(palette_path).rgb.shape == (8, 8, 3)


def _exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def test_exif_orientation_applied(tmp_path) -> None:
    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # stored landscape 40x20
    stored[:, :5] = 255  # white band at the stored left edge
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, "JPEG", quality=95, exif=_exif_with_orientation(6))
    photo = load_photo(path)
    # Orientation 6 = rotate 90 degrees clockwise for display: portrait 20x40, band on top.
    assert (photo.width, photo.height) == (20, 40)
    assert photo.rgb.shape == (40, 20, 3)
    assert photo.rgb[:4].mean() > 200 and photo.rgb[10:].mean() < 30


def test_large_jpeg_decoded_at_reduced_scale(tmp_path) -> None:
    pixels = _gradient(4000, 3000)
    path = tmp_path / "big.jpg"
    Image.fromarray(pixels).save(path, "JPEG", quality=90)
    start = time.perf_counter()
    full = load_photo(path)
    full_time = time.perf_counter() - start
    start = time.perf_counter()
    small = load_photo(path, max_side=500)
    small_time = time.perf_counter() - start
    assert (full.width, full.height) == (small.width, small.height) == (4000, 3000)
    assert max(small.rgb.shape[:2]) == 500 and small.scale == pytest.approx(0.125)
    reference = np.asarray(Image.fromarray(full.rgb).resize((500, 375), Image.Resampling.BOX)).astype(int)
    assert np.abs(small.rgb.astype(int) - reference).mean() < 3
    assert small_time < full_time  # draft mode decodes far fewer pixels


def test_reduced_scale_keeps_exif_orientation(tmp_path) -> None:
    path = tmp_path / "rotated_big.jpg"
    Image.fromarray(_gradient(2000, 1000)).save(path, "JPEG", exif=_exif_with_orientation(8))
    photo = load_photo(path, max_side=400)
    assert (photo.width, photo.height) == (1000, 2000)
    assert photo.rgb.shape == (400, 200, 3)


def _jpeg_bytes(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_gradient(width, height)).save(buffer, "JPEG")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size it does not contain."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(_jpeg_bytes(16, 16))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


BAD_FILES = {
    "empty.jpg": (b"", "empty"),
    "truncated.jpg": (_jpeg_bytes(256, 256)[:300], "truncated"),
    "random.jpg": (np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes(), "not a supported image"),
    "text.png": (b"this is not a picture\n" * 20, "not a supported image"),
    "huge_header.png": (_png_claiming(30000, 30000), "too large"),
    "huge_header.jpg": (_jpeg_claiming(30000, 30000), "too large|truncated|decode"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_raise_typed_error_quickly(tmp_path, name) -> None:
    content, reason = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    start = time.perf_counter()
    with pytest.raises(ImageLoadError, match=reason) as info:
        load_photo(path)
    assert info.value.path == path
    assert time.perf_counter() - start < 5  # never a hang


def test_huge_jpeg_header_with_reduced_scale_still_refused(tmp_path) -> None:
    """Even at 1/8 scale a 30000x30000 JPEG is 14 MP of garbage: refused without hanging."""
    path = tmp_path / "huge.jpg"
    path.write_bytes(_jpeg_claiming(30000, 30000))
    with pytest.raises(ImageLoadError):
        load_photo(path, max_side=1000, max_pixels=10_000_000)


def test_directory_named_like_photo(tmp_path) -> None:
    folder = tmp_path / "holiday.jpg"
    folder.mkdir()
    with pytest.raises(ImageLoadError, match="folder"):
        load_photo(folder)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ImageLoadError, match="not found"):
        load_photo(tmp_path / "gone.jpg")


def test_one_pixel_image(tmp_path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    photo = load_photo(path)
    assert photo.rgb.shape == (1, 1, 3) and tuple(photo.rgb[0, 0]) == (10, 20, 30)


def test_shared_negatives_in_odd_formats_load(faces_dir) -> None:
    odd = [p for p in (faces_dir / "negatives").rglob("*") if p.suffix.lower() in (".heic", ".avif", ".webp")]
    assert {p.suffix.lower() for p in odd} >= {".heic", ".avif", ".webp"}
    for path in odd:
        photo = load_photo(path, max_side=800)
        assert photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3 and photo.rgb.size > 0
