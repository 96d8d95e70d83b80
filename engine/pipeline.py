"""The face pipeline: photo -> detect -> 5 landmarks -> aligned chip -> 128-D embedding.

Detection works on a resized copy of the photo (the "working image").  The MMOD window is
80 px, so a face of `min_face_px` needs the photo enlarged by 80 / min_face_px; a budget of
`max_detect_megapixels` caps the cost on large photos.  Landmarks and chips come from the
same working image; every coordinate we return is in the full photo's displayed pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from engine.alignment import extract_face_chips
from engine.detector import FaceDetector, RawDetection
from engine.embedder import FaceEmbedder, configure_threads
from engine.images import LoadedPhoto, load_photo
from engine.landmarks import grey_for_landmarks, load_shape_predictor, predict_landmarks
from engine.model_files import DlibModelFiles, default_model_files
from engine.model_versions import DLIB_RESNET_V1, ModelVersion

DETECTOR_WINDOW_PX = 80


@dataclass(frozen=True)
class DetectionSettings:
    """Speed against smallest face.  Defaults: 40-px faces are found in photos up to
    `max_detect_megapixels` / 4 (2x enlargement); in larger photos the smallest face found
    grows with the photo (about 2% of the shorter side of a 12 MP photo).  This keeps a
    photo's detection time bounded (about a second on 2 cores) whatever its resolution."""

    min_face_px: float = 40.0
    max_detect_megapixels: float = 2.0
    max_upscale: float = 2.0
    score_threshold: float = 0.0

    def working_scale(self, width: int, height: int) -> float:
        wanted = DETECTOR_WINDOW_PX / max(self.min_face_px, 1.0)
        budget = (self.max_detect_megapixels * 1e6 / max(width * height, 1)) ** 0.5
        return float(min(wanted, budget, self.max_upscale))


@dataclass(frozen=True)
class DetectedFace:
    """One face in displayed-photo pixels.  box = (x1, y1, x2, y2), x2/y2 exclusive."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray  # (5, 2) float, pixel centres in the displayed photo
    embedding: np.ndarray | None = None  # (128,) float32 raw descriptor

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return self.width * self.height


@dataclass(frozen=True)
class PhotoFaces:
    path: Path
    width: int
    height: int
    working_scale: float
    faces: list[DetectedFace] = field(default_factory=list)


class FacePipeline:
    """Loads the three dlib models once and runs them on photos."""

    def __init__(
        self,
        settings: DetectionSettings | None = None,
        model_files: DlibModelFiles | None = None,
        threads: int | None = None,
    ) -> None:
        configure_threads(threads)
        files = model_files or default_model_files()
        self.settings = settings or DetectionSettings()
        self.detector = FaceDetector(files.detector)
        self.shape_predictor = load_shape_predictor(files.landmarks)
        self.embedder = FaceEmbedder(files.recognition)
        self.model_version: ModelVersion = DLIB_RESNET_V1

    # -- stages ------------------------------------------------------------------------------
    def load_working_image(self, path: str | Path) -> tuple[LoadedPhoto, np.ndarray, float]:
        """Decode at the working scale (reduced-scale JPEG decoding when shrinking)."""
        budget = int(self.settings.max_detect_megapixels * 1e6)
        photo = load_photo(path, max_output_pixels=budget)
        scale = self.settings.working_scale(photo.width, photo.height)
        rgb = photo.rgb
        target = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
        if (rgb.shape[1], rgb.shape[0]) != target:
            rgb = np.asarray(Image.fromarray(rgb).resize(target, Image.Resampling.BILINEAR))
        return photo, rgb, rgb.shape[1] / photo.width

    def detect(self, rgb: np.ndarray) -> list[RawDetection]:
        return self.detector.detect(rgb, self.settings.score_threshold)

    def landmarks(self, rgb: np.ndarray, detections: list[RawDetection]) -> np.ndarray:
        boxes = np.array([[d.left, d.top, d.right, d.bottom] for d in detections], dtype=np.float64)
        return predict_landmarks(self.shape_predictor, grey_for_landmarks(rgb), boxes.reshape(-1, 4))

    def chips(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return extract_face_chips(rgb, landmarks)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        return self.embedder.embed(chips)

    # -- whole photos --------------------------------------------------------------------
    def faces_in_image(self, rgb: np.ndarray, embed: bool = True) -> tuple[list[RawDetection], np.ndarray, np.ndarray | None]:
        """Detections, landmarks and embeddings in the pixel grid of `rgb`."""
        detections = self.detect(rgb)
        points = self.landmarks(rgb, detections)
        embeddings = self.embed_chips(self.chips(rgb, points)) if embed and detections else None
        return detections, points, embeddings

    def analyze(self, path: str | Path, embed: bool = True) -> PhotoFaces:
        photo, rgb, scale = self.load_working_image(path)
        detections, points, embeddings = self.faces_in_image(rgb, embed)
        faces = []
        for i, det in enumerate(detections):
            box = (det.left / scale, det.top / scale, (det.right + 1) / scale, (det.bottom + 1) / scale)
            faces.append(
                DetectedFace(
                    box=box,
                    score=det.score,
                    landmarks=(points[i].astype(np.float64) + 0.5) / scale - 0.5,
                    embedding=None if embeddings is None else embeddings[i],
                )
            )
        return PhotoFaces(path=Path(path), width=photo.width, height=photo.height, working_scale=scale, faces=faces)
