"""Model versions and the decision thresholds that belong to them.

Every stored embedding names the version that produced it; a threshold is meaningless
outside its version.  The figures for `dlib-resnet-v1` were chosen by measurement on LFW
`pairsDevTrain.txt` (see benchmarks/calibrate_threshold.py and benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelVersion:
    name: str
    architecture: str
    embedding_size: int
    l2_normalize: bool  # compare unit vectors (True) or raw descriptors (False)
    threshold: float  # Euclidean distance at or below which two faces are the same person
    calibration: str  # where the threshold came from
    # How a face becomes an embedding (part of the version: changing it changes the space).
    subpixel_landmarks: bool = False  # align on unrounded landmarks (dlib rounds to pixels)
    flip_average: bool = False  # embed the chip and its mirror image, sum the unit vectors
    # People: clustering merges while the average *squared* distance between two groups is
    # at or below this; recognition assigns without asking up to `auto_assign_distance` and
    # suggests up to `suggest_distance`.
    cluster_linkage: float = 0.0
    auto_assign_distance: float = 0.0
    suggest_distance: float = 0.0

    def prepare(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings in the space where `threshold` applies."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if not self.l2_normalize:
            return embeddings
        norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
        return embeddings / np.maximum(norms, 1e-12)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self.prepare(a) - self.prepare(b), axis=-1)

    def same_person(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.distance(a, b) <= self.threshold


DLIB_RESNET_V1 = ModelVersion(
    name="dlib-resnet-v1",
    architecture="dlib-resnet29",
    embedding_size=128,
    l2_normalize=False,
    threshold=0.8365,
    calibration=(
        "LFW pairsDevTrain.txt (2,200 pairs) with the default detection settings: best 10-fold "
        "accuracy (99.00%) among rounded/sub-pixel landmarks x chip/chip+mirror x raw/L2; "
        "threshold = best-accuracy threshold on all of DevTrain (benchmarks/calibrate_threshold.py)"
    ),
    subpixel_landmarks=True,
    flip_average=True,
    # Chosen on LFW identities with >= 10 images, images 6+ (benchmarks/cluster_quality.py):
    # the largest linkage with BCubed precision >= 0.99; recognition levels with no unknown
    # face auto-assigned and >= 90% of suggestions right.
    cluster_linkage=0.50,
    auto_assign_distance=0.55,
    suggest_distance=0.65,
)

MODEL_VERSIONS = {DLIB_RESNET_V1.name: DLIB_RESNET_V1}
