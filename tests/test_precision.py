"""The networks' arithmetic: bfloat16 only where the processor multiplies it natively, and
then the same faces and interchangeable embeddings as float32 on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model_versions import DEFAULT_VERSION
from engine.errors import SettingError
from engine.faces.precision import FP32, PRECISION_ENV, Precision, choose_precision

PLAIN_AVX2 = {"avx2": True, "amx_bf16": False, "avx512_bf16": False}
XEON_AMX = {"avx2": True, "amx_bf16": True, "avx512_bf16": True}
ZEN4 = {"avx2": True, "amx_bf16": False, "avx512_bf16": True}


@pytest.mark.parametrize(("capabilities", "expected"), [(PLAIN_AVX2, "fp32"), (XEON_AMX, "bf16"), (ZEN4, "bf16"), ({}, "fp32")])
def test_auto_uses_bf16_only_with_matrix_units(capabilities: dict, expected: str) -> None:
    chosen = choose_precision("auto", capabilities)
    assert chosen.name == expected
    assert chosen.reason.startswith("bfloat16") == (expected == "bf16")


def test_the_setting_overrides_the_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_precision("fp32", XEON_AMX).name == "fp32"
    assert choose_precision(" BF16 ", PLAIN_AVX2).name == "bf16"
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert choose_precision(None, XEON_AMX).name == "fp32"
    monkeypatch.setenv(PRECISION_ENV, "")
    assert choose_precision(None, XEON_AMX).name == "bf16"  # empty means auto
    monkeypatch.setenv(PRECISION_ENV, "half")
    with pytest.raises(SettingError, match="auto, fp32 or bf16"):
        choose_precision(None, XEON_AMX)


def test_this_processor_gets_what_it_reports() -> None:
    import torch

    capabilities = torch.cpu.get_capabilities()
    has_units = bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))
    assert choose_precision("auto").reduced == (has_units and torch.backends.mkldnn.is_available())


@pytest.fixture(scope="module")
def group_photos(faces_dir):
    photos = sorted((faces_dir / "group_photos").rglob("*.jpg"))
    assert photos, "group_photos is empty"
    return photos[:3]


@pytest.mark.parametrize("setting", ["auto", "bf16"])
def test_reduced_precision_finds_the_same_faces_on_real_photos(group_photos, setting: str) -> None:
    """The issue asks for box IoU >= 0.9 and no face lost or added; the detector does better:
    the cells near the threshold are scored again in float32, so the boxes are float32's
    exactly (without that, 12 of 157 faces moved one stride, IoU 0.68-0.83).  Each face's
    embedding moves by a small fraction of the same-person level (benchmarks/precision_check.py)."""
    from engine.faces.pipeline import FacePipeline

    chosen = choose_precision(setting)
    plain = [FacePipeline(precision=FP32).analyze(p) for p in group_photos]
    reduced = [FacePipeline(precision=chosen).analyze(p) for p in group_photos]
    moves = []
    for a, b in zip(plain, reduced, strict=True):
        assert len(a.faces) == len(b.faces), f"{a.path.name}: {len(a.faces)} faces in fp32, {len(b.faces)} in {chosen.name}"
        assert [f.box for f in a.faces] == [f.box for f in b.faces], f"{a.path.name}: boxes differ in {chosen.name}"
        for face, other in zip(a.faces, b.faces, strict=True):
            assert abs(face.score - other.score) < 1e-4
            moved = float(DEFAULT_VERSION.distance(face.embedding[None], other.embedding[None])[0])
            assert moved <= 0.03 * DEFAULT_VERSION.threshold, f"embedding moved {moved:.4f} in {chosen.name}"
            moves.append(moved)
    assert len(moves) >= 3, "the photos should hold several faces"
    if chosen.reduced:
        assert max(moves) > 0, "bf16 ran, so the embeddings cannot be bit-identical to float32's"


def test_the_detector_adds_its_last_rows_in_float32(model_files) -> None:
    """bf16 convolutions, float32 scores: the score map is float32 and within a few
    hundredths of float32's everywhere (measured 0.03-0.04 on photos; bf16 row sums drift more)."""
    from engine.faces.detector import FaceDetector

    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    plain, _ = FaceDetector(model_files.detector, FP32).scores(image)
    reduced, _ = FaceDetector(model_files.detector, Precision("bf16", "test")).scores(image)
    assert reduced.dtype == np.float32
    assert 0 < np.abs(plain - reduced).max() < 0.1


def test_a_wrong_setting_is_a_clear_error_in_the_cli(faces_dir, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from engine.cli import main

    photo = sorted((faces_dir / "group_photos").rglob("*.jpg"))[0]
    monkeypatch.setenv(PRECISION_ENV, "half")
    assert main(["faces", str(photo)]) != 0
    err = capsys.readouterr().err
    assert "FACENET_PRECISION must be auto, fp32 or bf16" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def photos_where_bf16_moved_boxes(faces_dir):
    """Photos where plain bf16 scoring moved a face's box by one stride (found by
    benchmarks/precision_check.py before the float32 rescoring)."""
    wanted = {"examples__obama.jpg", "img28.jpg", "Diana_3.jpg"}
    found = sorted(p for p in faces_dir.rglob("*") if p.name in wanted)
    assert {p.name for p in found} == wanted
    return found


def test_rescoring_near_the_threshold_gives_float32_boxes_where_bf16_alone_moved_them(photos_where_bf16_moved_boxes, model_files) -> None:
    from engine.faces.detector import FaceDetector
    from engine.faces.pipeline import FacePipeline

    decode = FacePipeline(precision=FP32)
    plain = FaceDetector(model_files.detector, FP32)
    reduced = FaceDetector(model_files.detector, Precision("bf16", "test"))
    moved_without = 0
    for path in photos_where_bf16_moved_boxes:
        image = decode._detection_copy(decode.decode(path), 0.5).detect_rgb
        expected = [(d.left, d.top, d.right, d.bottom) for d in plain.detect(image)]
        assert [(d.left, d.top, d.right, d.bottom) for d in reduced.detect(image)] == expected
        # the same map without rescoring: its best cell differs from float32's somewhere
        raw, _ = reduced.scores(image)  # no threshold: no rescoring
        exact, _ = plain.scores(image)
        moved_without += int(np.argmax(raw) != np.argmax(exact))
    assert moved_without >= 1, "these photos were chosen because bf16 alone moves a box"
