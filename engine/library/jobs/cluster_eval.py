"""`facenet eval clusters`: scan and cluster a person/images folder into a temporary
library and score the people found against the folder names."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.jobs import ProgressCallback, no_progress
from engine.evaluation.clusters import ClusterQuality, cluster_quality
from engine.library.identities.grouping import MIN_PERSON_FACES, cluster_library
from engine.library.jobs.scan import scan_folders
from engine.library.storage.store import Library
from engine.faces.pipeline import FacePipeline
from engine.user_files import from_stored_path


def labelled_faces(library: Library, root: Path) -> tuple[list[str], list[int | None]]:
    """Identity (first folder under root) and person of each photo's largest face."""
    rows = library.query(
        """
        SELECT ph.path, f.person_id FROM photos ph JOIN faces f ON f.photo_id = ph.id
        WHERE f.id = (SELECT g.id FROM faces g WHERE g.photo_id = ph.id
                      ORDER BY (g.x2 - g.x1) * (g.y2 - g.y1) DESC, g.id LIMIT 1)
        ORDER BY ph.path
        """
    )
    truth, predicted = [], []
    for row in rows:
        relative = Path(from_stored_path(row["path"])).relative_to(root)
        if len(relative.parts) < 2:
            continue
        truth.append(relative.parts[0])
        predicted.append(row["person_id"])
    return truth, predicted


def evaluate_clusters(
    folder: str | Path,
    pipeline_factory: Callable[[], FacePipeline] = FacePipeline,
    min_faces: int = MIN_PERSON_FACES,
    progress: ProgressCallback = no_progress,
    keep_db: str | Path | None = None,
) -> tuple[ClusterQuality, dict]:
    root = Path(os.path.abspath(folder))
    with tempfile.TemporaryDirectory(prefix="facenet-eval-") as scratch:
        db_path = Path(keep_db) if keep_db else Path(scratch) / "eval.db"
        with Library(db_path) as library:
            scan = scan_folders(library, [root], pipeline_factory, progress=progress, import_xmp=False)
            summary = cluster_library(library, min_faces=min_faces)
            truth, predicted = labelled_faces(library, root)
    details = {
        "photos": scan.files_seen,
        "photos_without_face": scan.analyzed + scan.duplicates - len(truth),
        "failed": scan.failed,
        "faces": summary.faces,
        "seconds_scan": scan.seconds,
        "seconds_cluster": summary.seconds,
    }
    return cluster_quality(truth, predicted), details
