"""Names from XMP face regions become hand labels on the detected faces they cover."""

from __future__ import annotations

import logging

from engine.errors import LibraryError
from engine.library.reading.people import ensure_person
from engine.library.edits.xmp import read_face_regions
from engine.faces.photo_metadata import PhotoMetadata
from engine.faces.pipeline import PhotoFaces
from engine.user_files import printable_path

log = logging.getLogger(__name__)

MIN_OVERLAP = 0.3  # intersection over union of the region and the detected box


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_regions(regions: list, photo: PhotoFaces) -> list[tuple[int, str]]:
    """(face index, name) pairs: best overlap first, each face and region used once."""
    boxes = [
        (f.box[0] / photo.width, f.box[1] / photo.height, f.box[2] / photo.width, f.box[3] / photo.height)
        for f in photo.faces
    ]
    scored = sorted(
        ((_iou(region.box, box), r, i) for r, region in enumerate(regions) for i, box in enumerate(boxes)),
        reverse=True,
    )
    used_regions, used_faces, matches = set(), set(), []
    for overlap, r, i in scored:
        if overlap < MIN_OVERLAP or r in used_regions or i in used_faces:
            continue
        used_regions.add(r)
        used_faces.add(i)
        matches.append((i, regions[r].name))
    return sorted(matches)


def apply_xmp_labels(db, path: str, metadata: PhotoMetadata | None, photo: PhotoFaces, face_ids: list[int],  # noqa: ANN001
                     inside: list[str] | None = None) -> int:
    """Hand labels from the face regions of the photo's sidecar or its own XMP; a sidecar
    link is read only inside the folders `inside` (the scan's photo folders)."""
    regions = read_face_regions(path, metadata, inside)
    if not regions:
        return 0
    labelled = 0
    for index, name in match_regions(regions, photo):
        try:
            person_id = ensure_person(db, name)
        except LibraryError as exc:  # an empty, endless or garbled name in someone's sidecar
            log.info("face region in the sidecar of %s not imported: %s", printable_path(path), exc)
            continue
        db.execute(
            "UPDATE faces SET person_id = ?, assignment = 'manual', distance = NULL, confirmed = 1, named_from = 'XMP' "  # a region named by hand
            "WHERE id = ? AND (assignment IS NULL OR assignment != 'manual')",
            [person_id, face_ids[index]],
        )
        labelled += 1
    return labelled
