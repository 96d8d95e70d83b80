"""The networks' arithmetic: bfloat16 only where the processor multiplies it natively, the
detector in int8 where oneDNN has int8 convolutions, and then the same faces and
interchangeable embeddings as float32 on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from engine.model_versions import DEFAULT_VERSION
from engine.errors import SettingError
from engine.dlib.mmod_int8 import int8_supported
from engine.faces.precision import FP32, PRECISION_ENV, Precision, choose_precision

PLAIN_AVX2 = {"avx2": True, "amx_bf16": False, "avx512_bf16": False}
XEON_AMX = {"avx2": True, "amx_bf16": True, "avx512_bf16": True}
ZEN4 = {"avx2": True, "amx_bf16": False, "avx512_bf16": True}
OLD_SSE = {"avx2": False, "amx_bf16": False, "avx512_bf16": False}


@pytest.mark.parametrize(("capabilities", "expected"), [(PLAIN_AVX2, "fp32"), (XEON_AMX, "bf16"), (ZEN4, "bf16"), ({}, "fp32"), (OLD_SSE, "fp32")])
def test_auto_uses_bf16_only_with_matrix_units(capabilities: dict, expected: str) -> None:
    chosen = choose_precision("auto", capabilities)
    assert chosen.name == expected
    assert ("bfloat16" in chosen.reason) == (expected == "bf16")


@pytest.mark.parametrize(("capabilities", "int8"), [(PLAIN_AVX2, True), (XEON_AMX, True), (ZEN4, True), (OLD_SSE, False), ({}, False)])
def test_auto_runs_the_detector_in_int8_only_with_avx2_and_onednn(capabilities: dict, int8: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.dlib import mmod_int8

    chosen = choose_precision("auto", capabilities)
    assert chosen.detector_int8 == int8
    assert chosen.detector == ("int8" if int8 else chosen.name)
    assert chosen.reason.startswith("int8 detector") == int8
    # a torch without oneDNN's quantised engine keeps the plain path on any processor
    monkeypatch.setattr(mmod_int8, "quantized_engines", lambda: ["qnnpack", "fbgemm"])
    assert not choose_precision("auto", capabilities).detector_int8
    with pytest.raises(SettingError, match="no onednn int8 convolutions"):
        choose_precision("int8", capabilities)


def test_the_setting_overrides_the_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_precision("fp32", XEON_AMX).name == "fp32"
    assert not choose_precision("fp32", PLAIN_AVX2).detector_int8
    assert choose_precision(" BF16 ", PLAIN_AVX2).name == "bf16"
    assert not choose_precision("bf16", PLAIN_AVX2).detector_int8
    forced = choose_precision("int8", OLD_SSE)
    assert forced.detector_int8 and forced.name == "fp32"
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert choose_precision(None, XEON_AMX).name == "fp32"
    monkeypatch.setenv(PRECISION_ENV, "")
    assert choose_precision(None, XEON_AMX).name == "bf16"  # empty means auto
    monkeypatch.setenv(PRECISION_ENV, "half")
    with pytest.raises(SettingError, match="auto, fp32, bf16 or int8"):
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


# "xeon": what auto chooses on a processor with AMX (an int8 detector and a bf16 embedder),
# emulated here where the processor has no bf16 units
@pytest.mark.parametrize("setting", ["auto", "bf16", "int8", "xeon"])
def test_reduced_precision_finds_the_same_faces_on_real_photos(group_photos, setting: str) -> None:
    """The issue asks for box IoU >= 0.9 and no face lost or added; the detector does better:
    the cells near the threshold are scored again in float32, so the boxes are float32's
    exactly (without that, 12 of 157 faces moved one stride, IoU 0.68-0.83).  Each face's
    embedding moves by a small fraction of the same-person level (benchmarks/precision_check.py)."""
    from engine.faces.pipeline import FacePipeline

    chosen = choose_precision("auto", XEON_AMX) if setting == "xeon" else choose_precision(setting)
    if setting == "xeon":
        if not int8_supported():
            pytest.skip("this torch or processor has no oneDNN int8 convolutions")
        assert chosen.detector_int8 and chosen.reduced
    plain = [FacePipeline(precision=FP32).analyze(p) for p in group_photos]
    # two scan workers (each takes a run of 6 photos) share one reduced-precision network
    copies = 4
    reduced = [r for _p, r in FacePipeline(precision=chosen).analyze_many(group_photos * copies, workers=2)]
    plain = plain * copies
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
    else:  # float32 embedder on float32's boxes: the same chips, the same vectors
        assert max(moves) == 0, "the int8 detector changed a box's pixels"


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
    assert "FACENET_PRECISION must be auto, fp32, bf16 or int8" in err and "Traceback" not in err


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


@pytest.fixture(scope="module")
def photos_where_int8_moved_boxes(faces_dir):
    """Photos where the int8 map's best cell is not float32's (found by comparing the two
    maps of the 100 full-size photos of benchmarks/pipeline_speed.py at 0.5 MP: 9 of them)."""
    wanted = {"Diana_5.png", "img20.jpg", "portrait.jpg"}
    found = sorted({p.name: p for p in faces_dir.rglob("*") if p.name in wanted}.values())
    assert {p.name for p in found} == wanted
    return found


@pytest.mark.skipif(not int8_supported(), reason="this torch or processor has no oneDNN int8 convolutions")
def test_int8_rescoring_gives_float32_boxes_where_int8_alone_moved_them(photos_where_int8_moved_boxes, model_files) -> None:
    from engine.faces.detector import FaceDetector
    from engine.faces.pipeline import FacePipeline

    decode = FacePipeline(precision=FP32)
    plain = FaceDetector(model_files.detector, FP32)
    int8 = FaceDetector(model_files.detector, choose_precision("int8"))
    moved_without = 0
    for path in photos_where_int8_moved_boxes:
        image = decode._detection_copy(decode.decode(path), 0.5).detect_rgb
        expected = [(d.left, d.top, d.right, d.bottom, d.score) for d in plain.detect(image)]
        assert expected, f"{path.name}: float32 finds a face here"
        assert [(d.left, d.top, d.right, d.bottom, d.score) for d in int8.detect(image)] == expected
        raw, _ = int8.scores(image)  # no threshold: the int8 map as it is
        exact, _ = plain.scores(image)
        assert 0 < np.abs(raw - exact).max() < 1.0, "int8 ran, within its measured error (0.77 at most)"
        moved_without += int(np.argmax(raw) != np.argmax(exact))
    assert moved_without >= 1, "these photos were chosen because int8 alone moves a box"


def _fake_quantised(values: np.ndarray, scale: float, zero: int, levels: int) -> np.ndarray:
    return (np.clip(np.round(values / scale) + zero, 0, 255) - zero) * scale if levels else values


def _int8_weights(conv):  # noqa: ANN001, ANN202
    """The convolution's weights on their per-channel symmetric int8 grid, in float64 (a
    filter of zeros, which widens a layer, stays zero)."""
    weight = conv.weight.detach().double()
    weight_scale = weight.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12) / 127
    return (weight / weight_scale).round() * weight_scale


@pytest.mark.skipif(not int8_supported(), reason="this torch or processor has no oneDNN int8 convolutions")
def test_the_int8_network_computes_what_its_quantisation_says() -> None:
    """A small two-layer network against the same arithmetic written out in numpy (input,
    weights and each ReLU output rounded to their int8 grids, products summed exactly):
    the int8 path may differ only by one output step where a sum lands on a rounding edge."""
    import torch
    from torch import nn

    from engine.dlib.mmod_int8 import LEVELS, Int8MmodNetwork

    torch.manual_seed(0)
    convs = [nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2)]
    means = (120.0, 110.0, 100.0)
    limits = (2.0, 3.0)
    network = Int8MmodNetwork(convs, nn.Identity(), means, limits)
    pixels = np.random.default_rng(0).integers(0, 256, (1, 3, 17, 23)).astype(np.float64)
    x = (pixels - np.array(means)[None, :, None, None]) / 256.0
    got = network(torch.from_numpy(x).float().contiguous(memory_format=torch.channels_last)).double().numpy()

    expected = _fake_quantised(x, network.input_scale, network.input_zero, LEVELS)
    assert np.abs(expected - x).max() <= network.input_scale / 2 + 1e-9
    for conv, scale in zip(convs, network.output_scales, strict=True):
        out = torch.nn.functional.conv2d(torch.from_numpy(expected), _int8_weights(conv), conv.bias.detach().double(),
                                         conv.stride, conv.padding)
        expected = _fake_quantised(torch.relu(out).numpy(), scale, 0, LEVELS)
    assert got.shape == expected.shape
    step = network.output_scales[-1]
    assert np.abs(got - expected).max() <= step + 1e-6
    assert np.mean(np.abs(got - expected) > 1e-6) < 0.01, "rounding-edge disagreements are rare"
    assert np.abs(expected).max() > 10 * step, "the test network's outputs are not all zero"


@pytest.mark.skipif(not int8_supported(), reason="this torch or processor has no oneDNN int8 convolutions")
def test_the_int8_detector_layers_never_saturate_on_real_photos(group_photos, model_files) -> None:
    """Each hidden layer of the real detector on real photos, from the int8 layer before it,
    against the same quantised arithmetic in float64: within one output step everywhere.
    On AVX2 without VNNI the processor adds pairs of u8 x s8 products into 16 bits, and a
    sum past 32767 saturates; with 8-bit activations that moved scores by up to 2.3.  A few
    activations above a layer's limit use the eighth bit (0-0.008% on these photos), and
    they must stay too rare to saturate a pair."""
    import torch

    from engine.dlib.mmod_int8 import LEVELS
    from engine.faces.detector import FaceDetector
    from engine.faces.pipeline import FacePipeline

    decode = FacePipeline(precision=FP32)
    detector = FaceDetector(model_files.detector, choose_precision("int8"))
    network = detector._int8
    above_limit = 0
    for path in group_photos:
        tiled, _ = detector.tiled_input(decode._detection_copy(decode.decode(path), 0.5).detect_rgb)
        q = torch.quantize_per_tensor(tiled, network.input_scale, network.input_zero, torch.quint8)
        previous = q.dequantize().double()
        for conv, packed, scale in zip(detector.network.convs[:-1], network.packed, network.output_scales, strict=True):
            exact = torch.relu(torch.nn.functional.conv2d(previous, _int8_weights(conv), conv.bias.detach().double(),
                                                          conv.stride, conv.padding))
            expected = _fake_quantised(exact.numpy(), scale, 0, LEVELS)
            q = torch.ops.quantized.conv2d_relu(q, packed, scale, 0)
            previous = q.dequantize().double()
            error = np.abs(previous.numpy() - expected).max() / scale
            assert error <= 1.001, f"{path.name}: an int8 layer is {error:.0f} steps off (16-bit saturation)"
            above_limit += int((q.int_repr() > 127).sum())
    assert above_limit > 0, "no activation above its limit: the photos do not test the eighth bit"


@pytest.mark.skipif(not int8_supported(), reason="this torch or processor has no oneDNN int8 convolutions")
def test_the_tiled_pyramid_stays_channels_last_when_quantised(group_photos, model_files) -> None:
    """torch quantises a channels-last view with a degenerate batch stride (what
    `permute(2, 0, 1)[None]` gives) into plain NCHW: four times slower to quantise, and the
    first int8 layer then reorders it (10% of the int8 network, measured).  The detector's
    tiled input must quantise in its own layout, and the int8 network's scores must not
    depend on the layout it is given."""
    import torch

    from engine.faces.detector import FaceDetector
    from engine.faces.pipeline import FacePipeline

    decode = FacePipeline(precision=FP32)
    detector = FaceDetector(model_files.detector, choose_precision("int8"))
    network = detector._int8
    tiled, _ = detector.tiled_input(decode._detection_copy(decode.decode(group_photos[0]), 0.5).detect_rgb)
    assert tiled.is_contiguous(memory_format=torch.channels_last)
    assert tiled.stride(0) == tiled[0].numel(), f"batch stride {tiled.stride(0)}: a degenerate view of the pyramid"
    quantised = torch.quantize_per_tensor(tiled, network.input_scale, network.input_zero, torch.quint8)
    assert quantised.stride() == tiled.stride(), f"quantised into {quantised.stride()}, not the pyramid's layout {tiled.stride()}"
    with torch.inference_mode():
        torch.testing.assert_close(network(tiled), network(tiled.contiguous()), rtol=0, atol=0)


def test_rescoring_crops_give_the_full_maps_values(photos_where_int8_moved_boxes, model_files) -> None:
    """The float32 rescoring runs on crops that reach just far enough past the cells they
    rescore (10 cells before, 13 after): every rescored cell gets the full float32 map's
    value.  A crop one cell shorter on any side gives its edge cells zero padding instead
    of pixels, and wrong scores."""
    import torch

    from engine.faces.detector import FaceDetector
    from engine.faces.pipeline import FacePipeline

    decode = FacePipeline(precision=FP32)
    detector = FaceDetector(model_files.detector, FP32)
    full_network = detector.network
    crop_shapes: list[tuple[int, int]] = []

    def recording(x: torch.Tensor) -> torch.Tensor:
        crop_shapes.append(tuple(x.shape[2:]))
        return full_network(x)

    checked = 0
    for path in photos_where_int8_moved_boxes:
        image = decode._detection_copy(decode.decode(path), 0.5).detect_rgb
        tiled, _ = detector.tiled_input(image)
        with torch.inference_mode():
            exact = full_network(tiled)[0, 0].numpy()
        # a stand-in for a reduced-precision map: float32's, moved by up to 0.1
        moved = exact + np.random.default_rng(checked).uniform(-0.1, 0.1, exact.shape).astype(np.float32)
        rescored = moved.copy()
        detector.network = recording
        try:
            detector._rescore_near(tiled, rescored, level=-0.5)
        finally:
            detector.network = full_network
        touched = moved > -0.5
        assert touched.any()
        assert np.abs(rescored[touched] - exact[touched]).max() < 1e-4
        changed = rescored != moved  # the rectangles around the touched cells get float32's values too
        assert np.abs(rescored[changed] - exact[changed]).max() < 1e-4
        assert changed.sum() < 0.5 * exact.size, "only the cells near the level are rescored"
        checked += 1
    assert crop_shapes and all(h * w < tiled.shape[2] * tiled.shape[3] for h, w in crop_shapes), "crops, not whole maps"
