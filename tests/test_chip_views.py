"""Extra views of a face for the embedding: chips turned about the landmarks' centre, and a
model version that averages them (dlib-resnet-v1-views6)."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from synthetic_library import add_face_row

from engine.faces.alignment import LANDMARKS_CENTRE, rotate_chips
from engine.faces.embedder import even_batches
from engine.library.storage.model_registry import ACTIVE_KEY, active_name
from engine.library.storage.store import Library
from engine.model_versions import DEFAULT_VERSION, DLIB_RESNET_V1, MODEL_VERSIONS, ModelVersion
from engine.faces.pipeline import FacePipeline


def _turned_by_definition(chip: np.ndarray, degrees: float) -> np.ndarray:
    """Pixel by pixel: turn the output pixel back about the centre, clamp into the chip,
    interpolate the four neighbours, truncate."""
    size = chip.shape[0]
    theta = np.deg2rad(degrees)
    cx, cy = LANDMARKS_CENTRE
    out = np.zeros_like(chip)
    for y in range(size):
        for x in range(size):
            sx = np.cos(theta) * (x - cx) + np.sin(theta) * (y - cy) + cx
            sy = -np.sin(theta) * (x - cx) + np.cos(theta) * (y - cy) + cy
            sx, sy = min(max(sx, 0.0), size - 1.0), min(max(sy, 0.0), size - 1.0)
            left, top = min(int(np.floor(sx)), size - 2), min(int(np.floor(sy)), size - 2)
            fx, fy = sx - left, sy - top
            value = ((1 - fy) * ((1 - fx) * chip[top, left].astype(float) + fx * chip[top, left + 1])
                     + fy * ((1 - fx) * chip[top + 1, left].astype(float) + fx * chip[top + 1, left + 1]))
            out[y, x] = value.astype(np.uint8)
    return out


@pytest.mark.parametrize("degrees", [5.0, -5.0, 30.0])
def test_turned_chips_match_the_pixel_by_pixel_definition(degrees) -> None:
    chips = np.random.default_rng(3).integers(0, 256, (2, 150, 150, 3), dtype=np.uint8)
    turned = rotate_chips(chips, degrees)
    for chip, result in zip(chips, turned, strict=True):
        assert np.abs(result.astype(int) - _turned_by_definition(chip, degrees)).max() <= 1  # float summation order
        assert (result != _turned_by_definition(chip, degrees)).mean() < 1e-3


def test_turning_by_zero_keeps_the_chip_and_a_quarter_turn_moves_the_face() -> None:
    chips = np.random.default_rng(4).integers(0, 256, (3, 150, 150, 3), dtype=np.uint8)
    assert np.array_equal(rotate_chips(chips, 0.0), chips)
    # A bright dot right of the centre ends up below it after +90 degrees (y points down).
    dot = np.zeros((1, 150, 150, 3), dtype=np.uint8)
    cx, cy = np.round(LANDMARKS_CENTRE).astype(int)
    dot[0, cy - 1 : cy + 2, cx + 19 : cx + 22] = 255
    turned = rotate_chips(dot, 90.0)[0, :, :, 0]
    ys, xs = np.nonzero(turned > 128)
    assert abs(xs.mean() - LANDMARKS_CENTRE[0]) < 2 and abs(ys.mean() - (LANDMARKS_CENTRE[1] + 20)) < 2


def test_versions_count_their_views_and_keep_them_through_json() -> None:
    assert DLIB_RESNET_V1.views == 2
    assert DEFAULT_VERSION.views == 6 and DEFAULT_VERSION.name in MODEL_VERSIONS
    again = ModelVersion(**json.loads(json.dumps(asdict(DEFAULT_VERSION))))
    assert again == DEFAULT_VERSION and again.chip_rotations == DEFAULT_VERSION.chip_rotations


@pytest.mark.slow
def test_embedding_averages_every_view_as_defined(faces_dir, pipeline) -> None:
    """The default recipe against the views embedded one by one; dlib-resnet-v1 unchanged."""
    images = pipeline.prepare(faces_dir / "lfw_deepfunneled" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg")
    detections = pipeline.detect(images.detect_rgb)
    boxes = np.array([[d.left, d.top, d.right, d.bottom] for d in detections], dtype=np.float64)
    chips = pipeline.chips(images.align_rgb, pipeline.landmarks(images.align_rgb, images.boxes_for_alignment(boxes)))
    embed = pipeline.embedder.embed

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    views = [chips, rotate_chips(chips, -5.0), rotate_chips(chips, 5.0)]
    expected = sum(unit(embed(v)) + unit(embed(np.ascontiguousarray(v[:, :, ::-1]))) for v in views) * 2 / 6
    assert DEFAULT_VERSION.chip_rotations == (-5.0, 5.0)
    default = FacePipeline(model_version=DEFAULT_VERSION)
    assert np.abs(default.embed_chips(chips) - expected).max() < 1e-5
    old = FacePipeline(model_version=DLIB_RESNET_V1)
    assert np.abs(old.embed_chips(chips) - (unit(embed(chips)) + unit(embed(np.ascontiguousarray(chips[:, :, ::-1]))))).max() < 1e-5


def test_a_library_keeps_the_version_its_faces_have(tmp_path) -> None:
    with Library(tmp_path / "new.db") as library:
        assert active_name(library) == DEFAULT_VERSION.name  # a new library takes the newest
    with Library(tmp_path / "old.db") as library, library.atomic() as db:
        db.execute("INSERT INTO folders(path) VALUES ('/p')")
        db.execute("INSERT INTO photos(path, folder_id, size, mtime_ns, status) VALUES ('/p/a.jpg', 1, 1, 1, 'done')")
        add_face_row(db, 1, np.zeros(128, np.float32), DLIB_RESNET_V1.name)
    with Library(tmp_path / "old.db") as library:
        assert active_name(library) == DLIB_RESNET_V1.name  # made before the newer default
        with library.atomic() as db:
            db.execute("INSERT INTO settings(key, value) VALUES (?, ?)", [ACTIVE_KEY, DEFAULT_VERSION.name])
        assert active_name(library) == DEFAULT_VERSION.name  # a choice wins


def test_even_batches_cover_every_chip_once_in_near_equal_batches() -> None:
    for batch_size in range(1, 20):
        for count in range(0, 70):
            batches = even_batches(count, batch_size)
            covered = [i for start, stop in batches for i in range(start, stop)]
            assert covered == list(range(count))
            assert len(batches) == -(-count // batch_size)
            sizes = [stop - start for start, stop in batches]
            assert all(0 < size <= batch_size for size in sizes)
            assert not sizes or max(sizes) - min(sizes) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("trainable", ["late", "all"])
def test_fine_tuning_measures_the_network_with_its_parents_views(faces_dir, pipeline, trainable) -> None:
    """Before any training step, the fine-tune's own recipe (trunk features of every view,
    heads averaged) gives what the app stores for the parent version: the six-view default
    as six views, dlib-resnet-v1 as chip + mirror.  A fine-tuned model is therefore compared
    with its parent on equal terms, and used with the same views afterwards."""
    from engine.training.finetune import SplitNetwork, trunk_features, views_average
    from engine.training.models import build_network, default_config

    paths = sorted((faces_dir / "lfw_deepfunneled").glob("A*/*_0001.jpg"))[:4]
    chips = np.concatenate([pipeline.chips(pipeline.decode(p).rgb, pipeline.analyze(p).faces[0].landmarks[None])
                            for p in paths])
    config = default_config("resnet")
    split = SplitNetwork(build_network(config).eval(), config, trainable)
    for version in (DEFAULT_VERSION, DLIB_RESNET_V1):
        stored = FacePipeline(model_version=version).embed_chips(chips)
        measured = views_average(split, trunk_features(split, chips, version.chip_rotations))
        np.testing.assert_allclose(measured, stored, atol=2e-4)
    six, two = (views_average(split, trunk_features(split, chips, r)) for r in (DEFAULT_VERSION.chip_rotations, ()))
    assert np.abs(six - two).max() > 1e-3  # the views matter, so the test would notice a mix-up


def test_views_combine_as_twice_the_mean_of_unit_vectors() -> None:
    """Hand-computed: views (3, 4) and (0, 2) are the unit vectors (0.6, 0.8) and (0, 1);
    twice their mean is their sum (0.6, 1.8)."""
    from engine.faces.alignment import combine_views

    vectors = np.array([[[3.0, 4.0]], [[0.0, 2.0]]])
    np.testing.assert_allclose(combine_views(vectors), [[0.6, 1.8]], rtol=1e-6)
    single = combine_views(np.array([[[0.0, 5.0]]]))
    np.testing.assert_allclose(single, [[0.0, 2.0]])
