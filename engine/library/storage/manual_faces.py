"""Faces the detector missed, added by the user as a box: landmarks, chip and embedding are
computed like a detected face's, so the face clusters and is recognised like any other."""

from __future__ import annotations

import numpy as np

from engine.library.storage.faces import insert_faces
from engine.library.storage.store import Library, LibraryError
from engine.faces.pipeline import DetectedFace
from engine.user_files import from_stored_path

MANUAL_BOX_SCORE = 0.0  # detector scores are > 0; 0 marks a box drawn by hand
MIN_BOX_PX = 12


def add_face(library: Library, pipeline, photo_id: int, box: tuple[float, float, float, float]) -> int:  # noqa: ANN001
    """Add a face for `box` (x1, y1, x2, y2 in displayed-photo pixels); returns its id."""
    row = library.query("SELECT path, width, height FROM photos WHERE id = ? AND status = 'done'", [int(photo_id)])
    if not row:
        raise LibraryError(f"no analysed photo with id {photo_id}")
    x1, y1, x2, y2 = (float(v) for v in box)
    width, height = row[0]["width"], row[0]["height"]
    x1, x2 = sorted((max(0.0, min(x1, width)), max(0.0, min(x2, width))))
    y1, y2 = sorted((max(0.0, min(y1, height)), max(0.0, min(y2, height))))
    if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
        raise LibraryError(f"the box is too small for a face (at least {MIN_BOX_PX} px on each side inside the photo)")
    photo = pipeline.decode(from_stored_path(row[0]["path"]))
    scale = photo.rgb.shape[1] / photo.width
    # Inclusive box in the decoded image's pixels, as the detector would report it.
    inclusive = np.array([[x1 * scale, y1 * scale, x2 * scale - 1, y2 * scale - 1]])
    points = pipeline.landmarks(photo.rgb, inclusive)
    embedding = pipeline.embed_chips(pipeline.chips(photo.rgb, points))[0]
    landmarks = (points[0].astype(np.float64) + 0.5) / scale - 0.5
    face = DetectedFace(box=(x1, y1, x2, y2), score=MANUAL_BOX_SCORE, landmarks=landmarks, embedding=embedding)
    with library.atomic() as db:
        [face_id] = insert_faces(db, int(photo_id), [face], pipeline.model_version.name)
    return face_id
