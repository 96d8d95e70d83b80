"""Photos for the photo view: decoded off the GUI thread by the engine's loader (the scan's
decoder), so every format the scan indexes can be shown."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from engine.errors import ImageLoadError
from engine.faces.images import load_photo

PHOTO_DISPLAY_SIDE = 1600


def decode_for_display(path: str) -> tuple[QImage | None, str]:
    """The photo upright (EXIF orientation: boxes are in displayed pixels), at most
    PHOTO_DISPLAY_SIDE long, or None and why.  Decoded by the engine's loader, as the scan
    decoded it: Qt's own reader cannot read HEIC or AVIF, which the scan indexes.  Runs on a
    worker thread: QImage, unlike QPixmap, may be made off the GUI thread."""
    try:
        photo = load_photo(path, max_side=PHOTO_DISPLAY_SIDE)
    except ImageLoadError as exc:
        return None, exc.reason
    rgb = np.ascontiguousarray(photo.rgb)
    height, width, _ = rgb.shape
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy(), ""
