"""Face and photo thumbnails: small JPEGs cut once and cached on disk, so a view never
decodes a full photo twice.

Finding what a thumbnail shows (`face_source`, `photo_source`: one indexed query and a
hash) is separate from cutting it (`cut`: decoding the photo), so a caller can look in the
cache cheaply and send only the misses elsewhere.  The window cuts in a child process: a
decode in its own process holds the GIL in bursts that delayed the window by 20-60 ms while
other programs kept the cores busy.  A `ThumbnailSource` is plain data for that."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from engine.faces.images import load_photo
from engine.library.storage.store import Library
from engine.paths import atomic_write_bytes, cache_dir
from engine.user_files import from_stored_path

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 128
FACE_DECODE_SIDE = 1600  # the face is cut from the photo decoded at most this large
FACE_MARGIN = 1.4  # the square's side against the box's longer side


@dataclass(frozen=True)
class ThumbnailSource:
    """What one thumbnail shows and where it is cached.  `box` (x1, y1, x2, y2 in the photo's
    pixels) cuts a square around a face; None is the whole photo."""

    photo_path: str  # as stored in the library
    box: tuple[float, float, float, float] | None
    size: int
    cached: Path

    def is_cut(self) -> bool:
        return self.cached.exists()


def face_source(library: Library, face_id: int, size: int = THUMBNAIL_SIZE) -> ThumbnailSource | None:
    """None when the face is gone.  Cached by what it shows (the photo's content and the box),
    never by the face's id: SQLite gives a deleted face's id to the next new face."""
    row = library.query(
        "SELECT ph.path, ph.content_hash, f.x1, f.y1, f.x2, f.y2 FROM faces f "
        "JOIN photos ph ON ph.id = f.photo_id WHERE f.id = ?",
        [face_id],
    )
    if not row:
        return None
    r = row[0]
    shows = f"{r['content_hash'] or r['path']}|{r['x1']:.2f},{r['y1']:.2f},{r['x2']:.2f},{r['y2']:.2f}"
    key = hashlib.sha1(shows.encode("utf-8", "surrogateescape")).hexdigest()
    return ThumbnailSource(r["path"], (r["x1"], r["y1"], r["x2"], r["y2"]), size,
                           _folder(library) / f"face-{key}-{size}.jpg")


def photo_source(library: Library, photo_id: int, size: int = THUMBNAIL_SIZE) -> ThumbnailSource | None:
    """None when the photo is gone.  Cached by the photo's content (an id can be reused after a
    photo leaves the library; its content hash names what it shows)."""
    row = library.query("SELECT path, content_hash FROM photos WHERE id = ?", [photo_id])
    if not row:
        return None
    key = row[0]["content_hash"] or hashlib.sha1(row[0]["path"].encode("utf-8", "surrogateescape")).hexdigest()
    return ThumbnailSource(row[0]["path"], None, size, _folder(library) / f"photo-{key}-{size}.jpg")


def cut(source: ThumbnailSource) -> Path | None:
    """The cached JPEG, cut now if it is not there yet; None when the photo cannot be read."""
    if source.is_cut():
        return source.cached
    decode_side = FACE_DECODE_SIDE if source.box is not None else max(source.size * 4, 512)
    try:
        photo = load_photo(from_stored_path(source.photo_path), max_side=decode_side)
    except Exception:  # noqa: BLE001 - any unreadable photo just has no thumbnail
        log.info("no thumbnail for %s", source.photo_path, exc_info=True)
        return None
    image = Image.fromarray(photo.rgb)
    if source.box is None:
        image.thumbnail((source.size, source.size), Image.Resampling.BILINEAR)
    else:
        x1, y1, x2, y2 = source.box
        side = max(x2 - x1, y2 - y1) * FACE_MARGIN
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        square = tuple(int(round(v * photo.scale)) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
        image = image.crop(square).resize((source.size, source.size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    atomic_write_bytes(source.cached, buffer.getvalue())
    return source.cached


def face_thumbnail(library: Library, face_id: int, size: int = THUMBNAIL_SIZE) -> Path | None:
    """A square JPEG of the face with some margin; None when the face is gone or its photo
    cannot be read."""
    source = face_source(library, face_id, size)
    return None if source is None else cut(source)


def photo_thumbnail(library: Library, photo_id: int, size: int = THUMBNAIL_SIZE) -> Path | None:
    """The whole photo, its longest side `size`; None when it is gone or cannot be read."""
    source = photo_source(library, photo_id, size)
    return None if source is None else cut(source)


def _folder(library: Library) -> Path:
    """Thumbnails of different libraries never mix (face ids repeat across databases)."""
    return cache_dir() / "thumbnails" / hashlib.sha1(str(library.path.resolve()).encode()).hexdigest()[:12]
