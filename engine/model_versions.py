"""Model versions and the decision thresholds that belong to them.

Every stored embedding names the version that produced it; a threshold is meaningless
outside its version.  The figures for `dlib-resnet-v1` were chosen by measurement on LFW
`pairsDevTrain.txt` (see benchmarks/calibrate_threshold.py and benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    # More views: the chip also turned by these angles (degrees, about the landmarks' centre),
    # each mirrored too when flip_average.  The embedding is 2 x the mean of the views' unit
    # vectors: the scale of the chip + mirror sum, whatever the number of views.
    chip_rotations: tuple[float, ...] = ()
    # People: clustering merges while the average *squared* distance between two groups is
    # at or below this; recognition assigns without asking up to `auto_assign_distance` and
    # suggests up to `suggest_distance`.
    cluster_linkage: float = 0.0
    auto_assign_distance: float = 0.0
    suggest_distance: float = 0.0
    # Whole groups: an unnamed group whose average squared linkage to a named person (or to
    # another unnamed group) is at or below this is offered as "Is this group NAME?" (0: never).
    group_suggest_linkage: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "chip_rotations", tuple(float(a) for a in self.chip_rotations))  # JSON gives lists

    @property
    def views(self) -> int:
        """Chips embedded per face."""
        return (1 + len(self.chip_rotations)) * (2 if self.flip_average else 1)

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
    # dlib-resnet-v1-views6's measured level scaled by the ratio of the two clustering levels
    # (0.55 x 0.50 / 0.475), not measured for this version.
    group_suggest_linkage=0.58,
)

# The same network and landmarks; each face embedded in six views instead of two: the chip
# and the chip turned 5 degrees either way about the landmarks' centre, each also mirrored
# (dlib's "jitter" idea, made deterministic).  Chosen on pairsDevTrain.txt among 17 view sets
# (benchmarks/lfw_views.py): 12 of the 15 sets of more than two views beat chip + mirror there, and
# every one did on pairs.txt; turning by 5 degrees either way was the best six-view set on
# DevTrain.  The app turns the chip itself (repeating its edge), so any stored face can be
# embedded again from its chip: on DevTrain as good as turning the landmarks (17 errors
# each), where black corners lost 4 of the 5 pairs gained.  Three times the embedding work.
_VIEWS6_THRESHOLD = 0.8255
DLIB_RESNET_V1_VIEWS6 = replace(
    DLIB_RESNET_V1,
    name="dlib-resnet-v1-views6",
    threshold=_VIEWS6_THRESHOLD,
    calibration=(
        "LFW pairsDevTrain.txt (2,200 pairs): best 10-fold accuracy (99.23%, against 99.00% for chip + mirror) "
        "among 17 sets of views; threshold = best-accuracy threshold on all of DevTrain (benchmarks/lfw_views.py); "
        "people levels on LFW identities with >= 10 images, images 6+ (benchmarks/cluster_quality.py)"
    ),
    chip_rotations=(-5.0, 5.0),
    # Measured on the same LFW calibration faces as dlib-resnet-v1 (benchmarks/cluster_quality.py):
    # the largest linkage at least as precise as dlib-resnet-v1's level there (BCubed precision
    # 0.9929 against 0.9909; 0.50 reached 0.9907).  Recognition: no unknown face auto-assigned,
    # >= 90% of suggestions right (0.931 at 0.60; 0.848 at 0.65).
    cluster_linkage=0.475,
    auto_assign_distance=0.55,
    suggest_distance=0.60,
    # benchmarks/group_suggestions.py: a simulated user names every second LFW identity; the
    # largest level at which >= 90% of the faces the group questions settle are settled right
    # (0.918: 9 of 13 questions right, settling 735 faces, 4 wrong settling 66; at 0.60 0.867).
    group_suggest_linkage=0.55,
)

DEFAULT_VERSION = DLIB_RESNET_V1_VIEWS6  # what a new library embeds with
MODEL_VERSIONS = {version.name: version for version in (DLIB_RESNET_V1, DLIB_RESNET_V1_VIEWS6)}
