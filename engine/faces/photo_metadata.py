"""The few facts about a photo file that are not pixels: when it was taken, its EXIF
orientation and stored size (to map XMP regions), and its embedded XMP packet."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 0x9003
DATETIME_DIGITIZED = 0x9004
DATETIME = 0x0132
ORIENTATION = 0x0112


@dataclass(frozen=True)
class PhotoMetadata:
    taken_at: str | None  # ISO 8601, local time as the camera wrote it
    orientation: int  # EXIF orientation 1..8
    stored_width: int  # pixel size as stored, before orientation
    stored_height: int
    xmp: bytes | None


def _parse_exif_datetime(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().replace("\x00", "")
    for layout in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y:%m:%d"):
        try:
            return datetime.strptime(text, layout).isoformat()
        except ValueError:
            continue
    return None


def read_metadata(path: str | Path) -> PhotoMetadata | None:
    """None when the file cannot be opened as an image (the decoder reports why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                try:
                    exif = image.getexif()
                    sub = exif.get_ifd(EXIF_IFD)
                except Exception:  # noqa: BLE001 - damaged EXIF (any error): the photo is still a photo
                    log.info("damaged EXIF in %s; read without it", path, exc_info=True)
                    exif, sub = {}, {}
                taken = None
                for source, tag in ((sub, DATETIME_ORIGINAL), (sub, DATETIME_DIGITIZED), (exif, DATETIME)):
                    taken = _parse_exif_datetime(source.get(tag))
                    if taken:
                        break
                orientation = exif.get(ORIENTATION, 1)
                if orientation not in range(1, 9):
                    orientation = 1
                xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
                if isinstance(xmp, str):
                    xmp = xmp.encode("utf-8")
                width, height = image.size
                return PhotoMetadata(taken, int(orientation), width, height, xmp if xmp else None)
    except Exception:  # noqa: BLE001 - any error: no metadata; the decoder says why it cannot read the photo
        log.info("no metadata read from %s", path, exc_info=True)
        return None
