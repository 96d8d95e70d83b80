"""A face added by hand (a box the detector missed) is embedded like a detected one."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.library.storage.manual_faces import add_face
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library, LibraryError, blob_to_embedding

pytestmark = pytest.mark.slow


def test_box_drawn_where_a_face_is_matches_the_detected_face(tmp_path, faces_dir, pipeline) -> None:
    photos = tmp_path / "Photos"
    photos.mkdir()
    for image in sorted((faces_dir / "lfw_deepfunneled" / "Gloria_Macapagal_Arroyo").glob("*.jpg"))[:2]:
        shutil.copy(image, photos / image.name)
    with Library(tmp_path / "lib.db") as library:
        scan_folders(library, [photos], lambda: pipeline)
        with_vector = "FROM faces f JOIN face_embeddings e ON e.face_id = f.id"
        detected = library.query(f"SELECT id, photo_id, x1, y1, x2, y2, embedding {with_vector} ORDER BY id")[0]
        library.db.execute("DELETE FROM faces WHERE id = ?", [detected["id"]])  # as if the detector had missed it
        box = (detected["x1"], detected["y1"], detected["x2"], detected["y2"])
        face_id = add_face(library, pipeline, detected["photo_id"], box)
        added = library.query(f"SELECT x1, y1, x2, y2, score, embedding, model_version {with_vector} WHERE id = ?", [face_id])[0]
        assert (added["x1"], added["y1"], added["x2"], added["y2"]) == pytest.approx(box)
        assert added["score"] == 0.0 and added["model_version"] == pipeline.model_version.name
        distance = float(pipeline.model_version.distance(blob_to_embedding(added["embedding"]), blob_to_embedding(detected["embedding"])))
        assert distance < 0.05  # measured 0.0: the same landmarks, chip and embedding
        other = library.query(f"SELECT embedding {with_vector} WHERE photo_id != ?", [detected["photo_id"]])[0]
        same_person = float(pipeline.model_version.distance(blob_to_embedding(added["embedding"]), blob_to_embedding(other["embedding"])))
        assert same_person <= pipeline.model_version.threshold
        with pytest.raises(LibraryError, match="too small"):
            add_face(library, pipeline, detected["photo_id"], (10, 10, 15, 15))
        with pytest.raises(LibraryError, match="no analysed photo"):
            add_face(library, pipeline, 999, box)
        assert np.isfinite(blob_to_embedding(added["embedding"])).all()
