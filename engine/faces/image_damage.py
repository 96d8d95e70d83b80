"""Telling a damaged photo from a photo without faces.

Decoders fill what is missing with grey and say nothing: a JPEG whose header promises
12000x9000 pixels but whose image data was never copied decodes as a grey picture, and a
HEIC cut in half decodes its first tiles.  Stored as 'done, no faces', such a file would
never be looked at again.  These checks read only the file's structure (a few hundred
bytes), so they cost nothing next to decoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from PIL import Image

from engine.errors import ImageLoadError

# Start-of-frame markers of Huffman-coded JPEGs (arithmetic coding, C9-CB and CD-CF, can
# code a block in under a bit, so the bound below does not hold for them).
_HUFFMAN_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7})
_ANY_FRAME = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_SEGMENTS = 4096
_MAX_BOXES = 4096


def _jpeg_scan_start(handle: BinaryIO) -> tuple[int | None, int | None]:
    """(frame marker, offset of the first entropy-coded byte), None where not found."""
    handle.seek(0)
    if handle.read(2) != b"\xff\xd8":
        return None, None
    frame = None
    for _ in range(_MAX_SEGMENTS):
        byte = handle.read(1)
        if byte != b"\xff":
            return frame, None
        marker = handle.read(1)
        while marker == b"\xff":  # fill bytes
            marker = handle.read(1)
        if not marker:
            return frame, None
        code = marker[0]
        if 0xD0 <= code <= 0xD7 or code == 0x01:
            continue
        length_bytes = handle.read(2)
        if len(length_bytes) < 2:
            return frame, None
        length = int.from_bytes(length_bytes, "big")
        if code in _ANY_FRAME and frame is None:
            frame = code
        if code == 0xDA:
            return frame, handle.tell() + length - 2
        if code == 0xD9:
            return frame, None
        handle.seek(length - 2, 1)
    return frame, None


def _check_jpeg(path: Path, handle: BinaryIO, width: int, height: int, size: int) -> None:
    frame, scan_start = _jpeg_scan_start(handle)
    if frame is None or scan_start is None:
        return  # Pillow parsed it; a structure we do not follow is not called damaged here
    if frame not in _HUFFMAN_FRAMES:
        return
    # Every 8x8 block of the first component carries a Huffman-coded DC value: at least one
    # bit per block, whatever the quality, progressive or not.
    blocks = -(-width // 8) * -(-height // 8)
    needed = blocks // 8
    present = max(0, size - scan_start)
    if present < needed:
        raise ImageLoadError(
            path,
            f"file is truncated or damaged (a {width}x{height} JPEG needs at least {needed:,} bytes of image data, "
            f"the file has {present:,})",
        )


def _check_boxes(path: Path, handle: BinaryIO, size: int) -> None:
    """HEIF/AVIF are ISO-BMFF: top-level boxes that must tile the file up to its end."""
    offset = 0
    for _ in range(_MAX_BOXES):
        if offset >= size:
            return
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8:
            raise ImageLoadError(path, "file is truncated or damaged (a box header is cut off)")
        box_size = int.from_bytes(header[:4], "big")
        if box_size == 1:
            large = handle.read(8)
            if len(large) < 8:
                raise ImageLoadError(path, "file is truncated or damaged (a box header is cut off)")
            box_size = int.from_bytes(large, "big")
        elif box_size == 0:  # extends to the end of the file
            return
        if box_size < 8:
            raise ImageLoadError(path, f"file is damaged (a box of {box_size} bytes)")
        if offset + box_size > size:
            kind = header[4:8].decode("latin-1")
            missing = offset + box_size - size
            raise ImageLoadError(
                path, f"file is truncated or damaged (its '{kind}' box is missing its last {missing:,} bytes)"
            )
        offset += box_size


def check_complete(path: str | Path, handle: BinaryIO, image: Image.Image, size: int) -> None:
    """Raise ImageLoadError when the file's structure shows data missing.  `handle` is
    the file `image` was opened from; its position is restored."""
    position = handle.tell()
    try:
        if image.format == "JPEG":
            width, height = image.size
            _check_jpeg(Path(path), handle, width, height, size)
        elif image.format in ("HEIF", "AVIF"):
            _check_boxes(Path(path), handle, size)
    finally:
        handle.seek(position)
