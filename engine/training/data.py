"""Training data: a person/images folder turned into aligned face chips once (cached),
identity-balanced P x K batches, and light augmentation."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.faces.alignment import extract_face_chips
from engine.errors import ImageLoadError, TrainingDataError
from engine.faces.images import PHOTO_EXTENSIONS, load_photo
from engine.jobs import CancelToken, Progress, ProgressCallback, no_progress
from engine.paths import atomic_write_bytes, cache_dir


@dataclass
class FaceSet:
    chips: np.ndarray  # (N, 150, 150, 3) uint8, aligned like the app's faces
    labels: np.ndarray  # (N,) int64 identity index
    names: list[str]  # identity index -> folder name
    paths: list[str]
    fallbacks: int  # images where no face was found (the whole image was used, resized)
    face_ids: list[int] | None = None  # library face of each chip, when built from a library
    # Faces the user looked at one by one (answered, moved, ticked, confirmed): where the
    # model needed asking, so where a better model shows.  None: not known (a folder set).
    corrections: np.ndarray | None = None

    def subset(self, mask: np.ndarray) -> FaceSet:
        keep = np.flatnonzero(mask)
        used = np.unique(self.labels[keep])
        remap = {old: new for new, old in enumerate(used.tolist())}
        return FaceSet(self.chips[keep], np.array([remap[v] for v in self.labels[keep].tolist()], dtype=np.int64),
                       [self.names[i] for i in used.tolist()], [self.paths[i] for i in keep.tolist()], self.fallbacks,
                       None if self.face_ids is None else [self.face_ids[i] for i in keep.tolist()],
                       None if self.corrections is None else self.corrections[keep])

    def correction_mask(self) -> np.ndarray:
        return np.zeros(len(self.labels), dtype=bool) if self.corrections is None else self.corrections

    def summary(self) -> dict:
        return {"faces": int(len(self.labels)), "people": len(self.names), "no_face_fallbacks": int(self.fallbacks)}


@dataclass
class KnownNegatives:
    """Faces known not to be certain people, without a name of their own: a face the user
    said is "not Anna" (typically a sibling or a parent), or an unnamed face in a photo with
    Anna (one photo's faces are different people).  In training each is a negative only for
    the people it is known not to be."""

    chips: np.ndarray  # (M, 150, 150, 3) uint8
    not_people: list[frozenset[str]]  # the names each face is known not to be
    face_ids: list[int]
    rejected: np.ndarray | None = None  # which the user rejected (the others share a photo with them)

    def __len__(self) -> int:
        return len(self.not_people)

    def subset(self, keep: np.ndarray) -> KnownNegatives:
        index = np.flatnonzero(keep)
        return KnownNegatives(self.chips[index], [self.not_people[k] for k in index.tolist()],
                              [self.face_ids[k] for k in index.tolist()],
                              None if self.rejected is None else self.rejected[index])

    def split(self, held_out_share: float, seed: int = 0) -> tuple[KnownNegatives, KnownNegatives]:
        """(to train with, held out to judge by): a random `held_out_share` of the rejected
        faces held out.  Faces that only share a photo with someone train but never judge:
        many are strangers, whom the app would not name at all, so a vote naming them
        would not be a mistake the user sees."""
        rejected = np.zeros(len(self), dtype=bool) if self.rejected is None else self.rejected
        held = rejected & (np.random.default_rng([seed, 1]).random(len(self)) < held_out_share)
        return self.subset(~held), self.subset(held)

    def for_people(self, names: list[str]) -> list[frozenset[int]]:
        """`not_people` as label numbers of a FaceSet whose people are `names`."""
        index = {name: i for i, name in enumerate(names)}
        return [frozenset(index[n] for n in nots if n in index) for nots in self.not_people]


def list_images(root: Path) -> list[tuple[str, Path]]:
    items = []
    for person in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for image in sorted(person.iterdir()):
            if image.suffix.lower() in PHOTO_EXTENSIONS or image.suffix.lower() == ".pgm":
                items.append((person.name, image))
    return items


def _largest(faces: list, width: int, height: int):  # noqa: ANN001, ANN202 - DetectedFace
    return max(faces, key=lambda f: f.area)


def _central(faces: list, width: int, height: int):  # noqa: ANN001, ANN202 - DetectedFace
    """The face whose box centre is nearest the image centre: LFW's convention (its images
    are cropped around the named person, often with someone larger beside them)."""
    return min(faces, key=lambda f: ((f.box[0] + f.box[2]) / 2 - width / 2) ** 2 + ((f.box[1] + f.box[3]) / 2 - height / 2) ** 2)


# Which face of an image is the folder's person.
FACE_PICKS = {"largest": _largest, "central": _central}


def _cache_key(items: list[tuple[str, Path]], pick: str = "largest") -> str:
    digest = hashlib.sha256()
    if pick != "largest":  # caches made before the choice existed stay valid
        digest.update(f"pick={pick}\n".encode())
    for name, path in items:
        stat = path.stat()
        digest.update(f"{name}\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _whole_image_chip(path: Path) -> np.ndarray | None:
    """The image itself, squared and resized to a chip (for photos already cropped to a face)."""
    try:
        rgb = load_photo(path).rgb
    except ImageLoadError:
        return None
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = torch.from_numpy(np.ascontiguousarray(rgb[top : top + side, left : left + side])).permute(2, 0, 1)[None].float()
    chip = F.interpolate(square, size=(150, 150), mode="bilinear", align_corners=False, antialias=True)
    return chip[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def prepare_faces(
    root: str | Path,
    pipeline_factory: Callable[[], object],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    pick: str = "largest",
) -> FaceSet:
    """Detect and align one face of every image once (`pick`: the largest, or the one
    nearest the centre); cached by file list, sizes, mtimes and pick in the cache folder."""
    if pick not in FACE_PICKS:
        raise ValueError(f"unknown face pick {pick!r}: choose from {', '.join(FACE_PICKS)}")
    choose = FACE_PICKS[pick]
    root = Path(root)
    items = list_images(root)
    if not items:
        raise TrainingDataError(f"no photos in person folders under {root} (one folder per person, photos inside)")
    cache = cache_dir() / "training" / f"{_cache_key(items, pick)}.npz"
    if cache.exists():
        try:
            with np.load(cache, allow_pickle=False) as data:
                return FaceSet(data["chips"], data["labels"], data["names"].tolist(), data["paths"].tolist(),
                               int(data["fallbacks"]))
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)  # damaged: rebuild
    pipeline = pipeline_factory()
    names = sorted({name for name, _ in items})
    index = {name: i for i, name in enumerate(names)}
    chips, labels, paths, fallbacks = [], [], [], 0
    for done, ((name, path), (_, result)) in enumerate(
        zip(items, pipeline.analyze_many((p for _, p in items), embed=False), strict=True), start=1
    ):
        if cancel is not None:
            cancel.stop_if_cancelled()
        chip = None
        if not isinstance(result, ImageLoadError) and result.faces:
            face = choose(result.faces, result.width, result.height)
            photo = load_photo(path)
            chip = extract_face_chips(photo.rgb, face.landmarks[None].astype(np.float64))[0]
        elif not isinstance(result, ImageLoadError):
            chip = _whole_image_chip(path)
            fallbacks += 1
        if chip is not None:
            chips.append(chip)
            labels.append(index[name])
            paths.append(str(path))
        progress(Progress("preparing faces", done, len(items), str(path)))
    faces = FaceSet(np.stack(chips), np.array(labels, dtype=np.int64), names, paths, fallbacks)
    buffer = io.BytesIO()
    np.savez(buffer, chips=faces.chips, labels=faces.labels, names=np.array(names), paths=np.array(paths),
             fallbacks=np.array(fallbacks))
    atomic_write_bytes(cache, buffer.getvalue())
    return faces


class IdentityBatches:
    """P people x K faces per batch (people with fewer than K faces are sampled with
    repetition), the batch layout that makes in-batch triplet mining possible."""

    def __init__(self, labels: np.ndarray, people: int, per_person: int, seed: int = 0,
                 weights: np.ndarray | None = None) -> None:
        self.by_person = [np.flatnonzero(labels == p) for p in range(int(labels.max()) + 1)]
        self.by_person = [faces for faces in self.by_person if len(faces) >= 2]
        if len(self.by_person) < 2:
            raise TrainingDataError("training needs at least two people with two faces each")
        self.people = min(people, len(self.by_person))
        self.per_person = per_person
        self.rng = np.random.default_rng(seed)
        # How often each face is drawn within its person (None: evenly, as without weights).
        self.chances = [None if weights is None or np.ptp(weights[faces]) == 0 else weights[faces] / weights[faces].sum()
                        for faces in self.by_person]

    def choose_people(self) -> np.ndarray:
        return self.rng.choice(len(self.by_person), size=self.people, replace=False)

    def next_batch(self) -> np.ndarray:
        batch = []
        for person in self.choose_people().tolist():
            faces, chances = self.by_person[person], self.chances[person]
            replace = len(faces) < self.per_person or (chances is not None and np.count_nonzero(chances) < self.per_person)
            batch.append(self.rng.choice(faces, size=self.per_person, replace=replace, p=chances))
        return np.concatenate(batch)


class LookalikeBatches(IdentityBatches):
    """Batches of people the current model finds alike: a random person and the `people` - 1
    whose mean embeddings lie nearest to theirs, K faces each.  In-batch mining then finds
    the negatives that matter for this user (siblings rather than strangers), which random
    people rarely put in the same batch once there are dozens of them."""

    def __init__(self, labels: np.ndarray, vectors: np.ndarray, people: int, per_person: int, seed: int = 0,
                 weights: np.ndarray | None = None) -> None:
        super().__init__(labels, people, per_person, seed, weights)
        centres = np.stack([vectors[faces].mean(axis=0) for faces in self.by_person])
        distances = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        np.fill_diagonal(distances, -1.0)  # each person first in their own row
        self.nearest = np.argsort(distances, axis=1, kind="stable")[:, : self.people]

    def choose_people(self) -> np.ndarray:
        return self.nearest[self.rng.integers(len(self.by_person))]


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random mirror, a small random crop (scaled back) and brightness/contrast jitter, on a
    batch of network inputs (N, 3, S, S)."""
    n, _, size, _ = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    scale = 1.0 - 0.1 * torch.rand(n, generator=generator)  # keep 90-100% of the side
    shift = (1.0 - scale)[:, None] * (torch.rand(n, 2, generator=generator) * 2 - 1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = 1.0 + 0.2 * (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1)
    brightness = 0.1 * (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean + brightness
