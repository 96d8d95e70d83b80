"""The whole pipeline on real photos: coordinates in the displayed photo, EXIF rotation,
group photos, tiny and odd inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.faces.pipeline import DetectionSettings

pytestmark = pytest.mark.slow

# MWG face regions stored in the portraits' XMP (normalised centre x, y, width, height),
# from group_photos/annotations.csv.
CURIE_REGIONS = {"Marie_Curie": (0.368452, 0.307857, 0.113095, 0.198571), "Pierre_Curie": (0.6875, 0.239286, 0.0964286, 0.241429)}


@pytest.mark.parametrize("name", ["portrait.jpg", "portrait-orientation-6.jpg"])
def test_curie_faces_land_in_their_xmp_regions(faces_dir, pipeline, name) -> None:
    found = pipeline.analyze(faces_dir / "group_photos" / "Marie_Curie" / name)
    assert len(found.faces) == 2
    for person, (cx, cy, w, h) in CURIE_REGIONS.items():
        hits = [
            f
            for f in found.faces
            if abs((f.box[0] + f.box[2]) / 2 / found.width - cx) < w / 2
            and abs((f.box[1] + f.box[3]) / 2 / found.height - cy) < h / 2
        ]
        assert len(hits) == 1, person


def test_exif_rotated_copy_gives_the_same_faces(faces_dir, pipeline) -> None:
    upright = pipeline.analyze(faces_dir / "group_photos/Marie_Curie/portrait.jpg")
    rotated = pipeline.analyze(faces_dir / "group_photos/Marie_Curie/portrait-orientation-6.jpg")
    assert (upright.width, upright.height) == (rotated.width, rotated.height)
    a = sorted(upright.faces, key=lambda f: f.box[0])
    b = sorted(rotated.faces, key=lambda f: f.box[0])
    for fa, fb in zip(a, b, strict=True):
        assert np.allclose(fa.box, fb.box, atol=6)
        # Same face, but the rotated copy was re-encoded: far below the 0.84 threshold.
        assert pipeline.model_version.distance(fa.embedding, fb.embedding) < 0.45


def test_landmarks_and_boxes_are_consistent(faces_dir, pipeline) -> None:
    found = pipeline.analyze(faces_dir / "group_photos/Angelina_Jolie/selfie-many-people.jpg")
    assert len(found.faces) >= 4
    for face in found.faces:
        x1, y1, x2, y2 = face.box
        assert 0 <= x1 < x2 <= found.width + 1 and 0 <= y1 < y2 <= found.height + 1
        pad_w, pad_h = 0.3 * (x2 - x1), 0.3 * (y2 - y1)
        assert np.all((face.landmarks[:, 0] > x1 - pad_w) & (face.landmarks[:, 0] < x2 + pad_w))
        assert np.all((face.landmarks[:, 1] > y1 - pad_h) & (face.landmarks[:, 1] < y2 + pad_h))
        # eyes (points 0-3) above the nose (point 4) in an upright photo
        assert face.landmarks[:4, 1].max() < face.landmarks[4, 1]
        assert face.embedding.shape == (128,) and face.embedding.dtype == np.float32


def test_small_faces_need_the_enlargement(faces_dir, tmp_path, pipeline) -> None:
    """A face shrunk to about 45 px is found at the default (40 px) setting and missed when
    the setting asks only for faces of 100 px and more."""
    source = Image.open(faces_dir / "face_recognition_examples/Joe_Biden/examples__biden.jpg").convert("RGB")
    face = pipeline.analyze(faces_dir / "face_recognition_examples/Joe_Biden/examples__biden.jpg").faces[0]
    factor = 45 / face.width
    small = source.resize((round(source.width * factor), round(source.height * factor)), Image.Resampling.LANCZOS)
    path = tmp_path / "small_face.png"
    small.save(path)
    assert len(pipeline.analyze(path).faces) == 1
    from engine.faces.pipeline import FacePipeline

    coarse = FacePipeline(DetectionSettings(min_face_px=100))
    assert coarse.analyze(path).faces == []


def test_working_scale_policy() -> None:
    settings = DetectionSettings(min_face_px=40, max_detect_megapixels=2.0)
    assert settings.working_scale(640, 480) == 2.0  # enlarged to find 40-px faces
    assert settings.working_scale(4000, 3000) == pytest.approx((2e6 / 12e6) ** 0.5)  # budget-bound
    assert DetectionSettings(min_face_px=160).working_scale(640, 480) == 0.5


@pytest.mark.parametrize("size", [(1, 1), (3, 200), (7, 7), (90, 60)])
def test_tiny_images_give_no_faces_and_no_crash(tmp_path, pipeline, size) -> None:
    path = tmp_path / f"tiny_{size[0]}x{size[1]}.png"
    Image.new("RGB", size, (128, 100, 90)).save(path)
    assert pipeline.analyze(path).faces == []


def test_grey_photo(faces_dir, tmp_path, pipeline) -> None:
    path = tmp_path / "grey.png"
    Image.open(faces_dir / "face_recognition_examples/Joe_Biden/examples__biden.jpg").convert("L").save(path)
    assert len(pipeline.analyze(path).faces) == 1


def test_analyze_many_matches_analyze_and_passes_errors_in_order(faces_dir, tmp_path, pipeline) -> None:
    """One stream, and runs of photos on three worker threads (one torch thread each)."""
    from engine.errors import ImageLoadError

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a photo")
    paths = [
        faces_dir / "face_recognition_examples/Joe_Biden/examples__biden.jpg",
        broken,
        faces_dir / "group_photos/Marie_Curie/portrait.jpg",
    ]
    # More photos than wait together for a shared embedding batch, photos without faces among them.
    no_faces = sorted((faces_dir / "negatives" / "no_people").glob("*"))[:3]
    paths += no_faces + sorted((faces_dir / "lfw_deepfunneled" / "George_W_Bush").glob("*.jpg"))[:8]
    singles = {path: pipeline.analyze(path) for path in paths if path != broken}
    for workers in (1, 3):
        results = list(pipeline.analyze_many(paths, prefetch=2, workers=workers))
        assert [p for p, _ in results] == paths
        assert isinstance(results[1][1], ImageLoadError) and results[1][1].path == broken
        for path, result in results[:1] + results[2:]:
            single = singles[path]
            assert [f.box for f in result.faces] == [f.box for f in single.faces]
            np.testing.assert_allclose([f.embedding for f in result.faces], [f.embedding for f in single.faces], atol=1e-5)


def test_quick_pass_falls_back_to_full_budget(faces_dir, tmp_path) -> None:
    """A small face in a big photo is missed by the 0.5 MP quick pass and found by the
    full-budget pass that follows an empty quick pass."""
    from engine.faces.pipeline import FacePipeline

    source = faces_dir / "face_recognition_examples/Joe_Biden/examples__biden.jpg"
    face = Image.open(source).convert("RGB")
    face_width = FacePipeline(DetectionSettings(quick_megapixels=None)).analyze(source).faces[0].width
    factor = 90 / face_width  # face of 90 px: about 46 px in the quick pass, 92 px in the full one
    face = face.resize((round(face.width * factor), round(face.height * factor)), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (1600, 1200), (90, 110, 90))
    canvas.paste(face, (700, 500))
    path = tmp_path / "small_face_big_photo.png"
    canvas.save(path)
    quick_only = FacePipeline(DetectionSettings(max_detect_megapixels=0.5, quick_megapixels=None))
    assert quick_only.analyze(path).faces == []
    both = FacePipeline(DetectionSettings())
    found = both.analyze(path)
    assert len(found.faces) == 1
    x1, y1, x2, y2 = found.faces[0].box
    assert 700 - 5 < x1 < 700 + face.width and 500 - 5 < y1 < 500 + face.height


def test_runs_keep_order_read_items_on_the_callers_thread_and_stop_early() -> None:
    """engine.faces.pipeline.in_runs, with hand-made work: results in order whatever finishes
    first, the items read only on the caller's thread and only a bounded way ahead, workers
    on one torch thread (the caller's count unchanged), and an error reaches the caller."""
    import threading

    import torch

    from engine.faces.pipeline import in_runs

    reads, threads_seen = [], set()
    second_run_done = threading.Event()
    caller = threading.current_thread()
    before = torch.get_num_threads()

    def items():
        for i in range(100):
            reads.append(threading.current_thread() is caller)
            yield i

    def work(chunk: list[int]) -> list[int]:
        threads_seen.add(torch.get_num_threads())
        if chunk[0] == 0:  # the first run finishes after the second: order must still hold
            assert second_run_done.wait(60)  # a ceiling only to catch a hang
        elif chunk[0] == 3:
            second_run_done.set()
        return [i * 10 for i in chunk]

    results = in_runs(work, items(), workers=2, run=3)
    assert [next(results) for _ in range(4)] == [0, 10, 20, 30]
    results.close()  # the caller stops early
    assert all(reads) and len(reads) <= 3 * 3 + 3  # at most workers + 1 runs ahead of the first
    assert threads_seen == {1} and torch.get_num_threads() == before
    assert list(in_runs(work, range(10), workers=3, run=4)) == [i * 10 for i in range(10)]

    def failing(chunk: list[int]) -> list[int]:
        if chunk[0] >= 4:
            raise ValueError("broken run")
        return chunk

    got = []
    with pytest.raises(ValueError, match="broken run"):
        for value in in_runs(failing, range(20), workers=2, run=2):
            got.append(value)
    assert got == [0, 1, 2, 3]
