"""The face pipeline: photo -> detect -> 5 landmarks -> aligned chip -> 128-D embedding.

Detection works on a resized copy of the photo (the "working image").  The MMOD window is
80 px, so a face of `min_face_px` needs the photo enlarged by 80 / min_face_px; a budget of
`max_detect_megapixels` caps the cost on large photos.  Landmarks and chips come from the
same working image; every coordinate we return is in the full photo's displayed pixels.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar
from dataclasses import dataclass, field
from pathlib import Path

import logging

import numpy as np
import torch
from PIL import Image

from engine.faces.alignment import chip_views, combine_views, extract_face_chips
from engine.faces.detector import FaceDetector, RawDetection
from engine.faces.embedder import FaceEmbedder, configure_threads
from engine.errors import ImageLoadError
from engine.faces.images import LoadedPhoto, load_photo
from engine.faces.landmarks import grey_for_landmarks, load_shape_predictor, predict_landmarks
from engine.dlib.model_files import DlibModelFiles, default_model_files
from engine.model_versions import DEFAULT_VERSION, ModelVersion
from engine.faces.precision import Precision, choose_precision
from engine.settings import DEFAULT_MIN_FACE_PX

log = logging.getLogger(__name__)
DETECTOR_WINDOW_PX = 80
# Photos whose faces may wait to be embedded together (bounds latency and a cancel's delay).
_EMBED_LOOKAHEAD = 4
PARALLEL_RUN = 6  # photos a worker takes at a time: enough for an embedding batch, short enough to stop soon
T = TypeVar("T")
R = TypeVar("R")


def in_runs(work: Callable[[list[T]], list[R]], items: Iterable[T], workers: int, run: int | None = None) -> Iterator[R]:
    """`work` applied to runs of `run` consecutive items (default PARALLEL_RUN) by `workers`
    threads with one torch thread each; results in the items' order.  The items are read
    on the caller's thread; a caller that stops early waits only for the runs under way."""
    source = iter(items)
    size = run or PARALLEL_RUN
    pending: deque[Future[list[R]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyze", initializer=torch.set_num_threads,
                            initargs=(1,)) as pool:
        try:
            while True:
                while len(pending) <= workers:
                    chunk = list(islice(source, size))
                    if not chunk:
                        break
                    pending.append(pool.submit(work, chunk))
                if not pending:
                    return
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


@dataclass(frozen=True)
class DetectionSettings:
    """Speed against smallest face.

    The detector first searches a copy of at most `quick_megapixels` (0.5 MP: faces of about
    a tenth of the photo's width and larger); only if it finds nothing there does it search
    again at up to `max_detect_megapixels` (2 MP), enlarging small photos so that faces of
    `min_face_px` (40 px) reach its 80-px window.  Most photos with people are settled by the
    quick pass; photos without faces, or with only small ones, pay for both.  Set
    `quick_megapixels=None` to always search at the full budget (finds small faces next to
    large ones too, about 2.5x slower); see benchmarks/RESULTS.md for the trade-off."""

    min_face_px: float = float(DEFAULT_MIN_FACE_PX)
    max_detect_megapixels: float = 2.0
    quick_megapixels: float | None = 0.5
    max_upscale: float = 2.0
    score_threshold: float = 0.0

    def working_scale(self, width: int, height: int, megapixels: float | None = None) -> float:
        wanted = DETECTOR_WINDOW_PX / max(self.min_face_px, 1.0)
        budget_mp = self.max_detect_megapixels if megapixels is None else megapixels
        budget = (budget_mp * 1e6 / max(width * height, 1)) ** 0.5
        return float(min(wanted, budget, self.max_upscale))

    def passes(self) -> list[float]:
        """Detection budgets to try in order, in megapixels."""
        if self.quick_megapixels is None or self.quick_megapixels >= self.max_detect_megapixels:
            return [self.max_detect_megapixels]
        return [self.quick_megapixels, self.max_detect_megapixels]


@dataclass(frozen=True)
class DetectedFace:
    """One face in displayed-photo pixels.  box = (x1, y1, x2, y2), x2/y2 exclusive."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray  # (5, 2) float, pixel centres in the displayed photo
    embedding: np.ndarray | None = None  # (128,) float32, compare with ModelVersion.distance

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
class WorkingImages:
    """The decoded photo (never enlarged: landmarks and chips come from it) and the copy the
    detector searched (enlarged to reach `min_face_px`, or shrunk to a budget)."""

    photo: LoadedPhoto
    detect_rgb: np.ndarray
    detect_scale: float  # detect_rgb width / displayed photo width

    @property
    def align_rgb(self) -> np.ndarray:
        return self.photo.rgb

    @property
    def align_scale(self) -> float:
        return self.photo.scale

    def boxes_for_alignment(self, boxes: np.ndarray) -> np.ndarray:
        """Inclusive (N, 4) boxes of the detection image in the alignment image's pixels."""
        r = self.align_scale / self.detect_scale
        return np.stack([boxes[:, 0] * r, boxes[:, 1] * r, (boxes[:, 2] + 1) * r - 1, (boxes[:, 3] + 1) * r - 1], axis=1)


def resized_copy(photo: LoadedPhoto, scale: float) -> np.ndarray:
    """The photo at `scale` of its displayed size (bilinear), or the decoded pixels if equal."""
    rgb = photo.rgb
    target = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    if (rgb.shape[1], rgb.shape[0]) == target:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(target, Image.Resampling.BILINEAR))


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
        embedder=None,  # noqa: ANN001 - anything with embed(chips) and model_version (a model file)
        model_version: ModelVersion | None = None,  # a built-in version of the dlib network (default: the newest)
        precision: Precision | None = None,  # default: bf16 where the processor has bf16 matrix units
    ) -> None:
        configure_threads(threads)
        files = model_files or default_model_files()
        self.settings = settings or DetectionSettings()
        self.precision = precision or choose_precision()
        log.info("face networks compute in %s", self.precision.reason)
        self.detector = FaceDetector(files.detector, self.precision)
        self.shape_predictor = load_shape_predictor(files.landmarks)
        if embedder is None:
            self.embedder = FaceEmbedder(files.recognition, precision=self.precision)
            self.model_version: ModelVersion = model_version or DEFAULT_VERSION
        else:
            self.embedder = embedder
            self.model_version = embedder.model_version

    # -- stages ------------------------------------------------------------------------------
    def decode(self, path: str | Path) -> LoadedPhoto:
        """Decode once, at most at the full detection budget (reduced-scale JPEG decoding)."""
        return load_photo(path, max_output_pixels=int(self.settings.max_detect_megapixels * 1e6))

    def find_faces(self, photo: LoadedPhoto) -> tuple[WorkingImages, list[RawDetection]]:
        """Run the detection passes; the result names the copy whose pixels the boxes use."""
        images, detections = None, []
        for megapixels in self.settings.passes():
            images = self._detection_copy(photo, megapixels)
            detections = self.detect(images.detect_rgb)
            if detections:
                break
        assert images is not None
        return images, detections

    def prepare(self, path: str | Path) -> WorkingImages:
        """Decoded photo and its full-budget detection copy (for callers choosing boxes)."""
        return self._detection_copy(self.decode(path), self.settings.max_detect_megapixels)

    def _detection_copy(self, photo: LoadedPhoto, megapixels: float) -> WorkingImages:
        rgb = resized_copy(photo, self.settings.working_scale(photo.width, photo.height, megapixels))
        return WorkingImages(photo=photo, detect_rgb=rgb, detect_scale=rgb.shape[1] / photo.width)

    def detect(self, rgb: np.ndarray) -> list[RawDetection]:
        return self.detector.detect(rgb, self.settings.score_threshold)

    def landmarks(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 5, 2) landmarks for (N, 4) inclusive boxes, as the model version wants them."""
        if len(boxes) == 0:  # most photos without faces: skip the grey copy of the photo
            return np.zeros((0, self.shape_predictor.num_parts, 2))
        return predict_landmarks(
            self.shape_predictor,
            grey_for_landmarks(rgb),
            np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            subpixel=self.model_version.subpixel_landmarks,
        )

    def chips(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return extract_face_chips(rgb, landmarks)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Embeddings in the model version's recipe (its extra views and mirror images)."""
        version = self.model_version
        if version.views == 1 or len(chips) == 0:
            return self.embedder.embed(chips)
        views = chip_views(chips, version.chip_rotations, version.flip_average)
        return combine_views(self.embedder.embed(np.concatenate(views)).reshape(len(views), len(chips), -1))

    # -- whole photos --------------------------------------------------------------------
    def align_and_embed(
        self, images: WorkingImages, boxes: np.ndarray, embed: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Landmarks (in the alignment image's pixels) and embeddings for (N, 4) inclusive
        boxes found in the detection image.  Alignment never uses the enlarged copy: its
        interpolated pixels make blurrier chips (measured: about 0.3% LFW accuracy)."""
        points, chips = self.points_and_chips(images, boxes, embed)
        return points, (self.embed_chips(chips) if chips is not None and len(chips) else None)

    def points_and_chips(self, images: WorkingImages, boxes: np.ndarray, chips: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Landmarks (alignment image's pixels) for boxes found in the detection image, and
        their aligned chips when `chips` (callers that embed the chips their own way)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        points = self.landmarks(images.align_rgb, images.boxes_for_alignment(boxes))
        return points, (self.chips(images.align_rgb, points) if chips else None)

    def analyze(self, path: str | Path, embed: bool = True) -> PhotoFaces:
        return self.analyze_decoded(self.decode(path), embed)

    def analyze_many(
        self, paths: Iterable[str | Path], embed: bool = True, prefetch: int = 2, workers: int | None = None
    ) -> Iterator[tuple[Path, PhotoFaces | ImageLoadError]]:
        """Analyze photos, results in order.  A photo that cannot be read yields its
        ImageLoadError instead of stopping.

        With `workers` > 1 (default: the calling thread's torch thread count), each worker
        thread takes a run of PARALLEL_RUN consecutive photos and analyses them with one
        torch thread: on 2 cores about 20% more photos per second than one stream using both
        cores on LFW photos (torch's two threads share one small photo's work at only about
        1.45x the speed of one), 10% on full-size photos (benchmarks/RESULTS.md).  With one
        worker, the plain path: one stream, the next photos decoded by a background thread
        while this one is analysed."""
        workers = torch.get_num_threads() if workers is None else workers
        if workers > 1:
            yield from self._analyze_in_parallel(paths, embed, workers)
        else:
            yield from self._analyze_in_order(paths, embed, prefetch)

    def _analyze_in_parallel(
        self, paths: Iterable[str | Path], embed: bool, workers: int
    ) -> Iterator[tuple[Path, PhotoFaces | ImageLoadError]]:
        def run(chunk: list[str | Path]) -> list[tuple[Path, PhotoFaces | ImageLoadError]]:
            return list(self._analyze_in_order(chunk, embed, prefetch=1))

        yield from in_runs(run, paths, workers)

    def _analyze_in_order(
        self, paths: Iterable[str | Path], embed: bool, prefetch: int
    ) -> Iterator[tuple[Path, PhotoFaces | ImageLoadError]]:
        """One stream while a background thread decodes the next photos (Pillow releases the
        GIL while decoding, torch while computing).  The faces of a few consecutive photos
        are embedded together: most photos hold one or two faces, and the network runs about
        1.7x faster per face on a batch of 16 than on 2 (measured), so results arrive in small
        groups, still in order."""
        waiting: list[tuple[Path, _LocatedFaces | ImageLoadError]] = []
        for path, located in self._locate_many(paths, embed, prefetch):
            waiting.append((path, located))
            chips = sum(len(item.chips) for _, item in waiting if isinstance(item, _LocatedFaces) and item.chips is not None)
            if not embed or chips * self._views >= self.embedder_batch or len(waiting) >= _EMBED_LOOKAHEAD:
                yield from self._finish(waiting)
                waiting = []
        yield from self._finish(waiting)

    @property
    def _views(self) -> int:
        return self.model_version.views

    @property
    def embedder_batch(self) -> int:
        return int(getattr(self.embedder, "batch_size", 16))

    def _finish(
        self, waiting: list[tuple[Path, _LocatedFaces | ImageLoadError]]
    ) -> Iterator[tuple[Path, PhotoFaces | ImageLoadError]]:
        with_faces = [item for _, item in waiting if isinstance(item, _LocatedFaces) and item.chips is not None and len(item.chips)]
        vectors = self.embed_chips(np.concatenate([item.chips for item in with_faces])) if with_faces else None
        offsets: dict[int, int] = {}
        start = 0
        for item in with_faces:
            offsets[id(item)] = start
            start += len(item.chips)
        for path, item in waiting:
            if isinstance(item, ImageLoadError):
                yield path, item
            elif id(item) in offsets:
                first = offsets[id(item)]
                yield path, item.result(vectors[first : first + len(item.detections)])
            else:
                yield path, item.result(None)

    def _locate_many(
        self, paths: Iterable[str | Path], embed: bool, prefetch: int
    ) -> Iterator[tuple[Path, _LocatedFaces | ImageLoadError]]:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
            pending: list[tuple[Path, Future[LoadedPhoto]]] = []
            source = iter(paths)
            exhausted = False
            while True:
                while not exhausted and len(pending) < max(prefetch, 1):
                    try:
                        path = Path(next(source))
                    except StopIteration:
                        exhausted = True
                        break
                    pending.append((path, pool.submit(self.decode, path)))
                if not pending:
                    return
                path, future = pending.pop(0)
                try:
                    photo = future.result()
                except ImageLoadError as exc:
                    yield path, exc
                    continue
                yield path, self._locate(photo, embed)

    def analyze_decoded(self, photo: LoadedPhoto, embed: bool = True) -> PhotoFaces:
        located = self._locate(photo, embed)
        return located.result(None if located.chips is None else self.embed_chips(located.chips))

    def _locate(self, photo: LoadedPhoto, chips: bool) -> _LocatedFaces:
        """Detection, landmarks and (if wanted) chips: everything but the embedding."""
        images, detections = self.find_faces(photo)
        boxes = [[d.left, d.top, d.right, d.bottom] for d in detections]
        points, cut = self.points_and_chips(images, boxes, chips)
        return _LocatedFaces(photo.path, photo.width, photo.height, images.detect_scale, images.align_scale,
                             detections, points, cut)


@dataclass(frozen=True)
class _LocatedFaces:
    """A photo's faces before embedding (so several photos' chips can share a batch).  Keeps
    no pixels but the chips: up to _EMBED_LOOKAHEAD photos wait at once."""

    path: Path
    width: int
    height: int
    detect_scale: float
    align_scale: float
    detections: list[RawDetection]
    points: np.ndarray  # (N, 5, 2) in the alignment image's pixels
    chips: np.ndarray | None  # (N, 150, 150, 3), None when no embedding is wanted

    def result(self, embeddings: np.ndarray | None) -> PhotoFaces:
        scale, width, height = self.detect_scale, self.width, self.height
        faces = []
        for i, det in enumerate(self.detections):
            # Faces at the edge get boxes reaching past it; report the visible part.
            box = (
                min(max(det.left / scale, 0.0), width),
                min(max(det.top / scale, 0.0), height),
                min(max((det.right + 1) / scale, 0.0), width),
                min(max((det.bottom + 1) / scale, 0.0), height),
            )
            faces.append(
                DetectedFace(
                    box=box,
                    score=det.score,
                    landmarks=(self.points[i].astype(np.float64) + 0.5) / self.align_scale - 0.5,
                    embedding=None if embeddings is None else embeddings[i],
                )
            )
        return PhotoFaces(path=self.path, width=width, height=height, working_scale=scale, faces=faces)
