"""The dlib file reader: primitive encodings checked by hand, and damaged files rejected."""

from __future__ import annotations

import numpy as np
import pytest

from engine.faces.detector import FaceDetector
from engine.dlib.file_format import DlibReader
from engine.dlib.network_file import parse_network_bytes, parse_network_file
from engine.errors import ModelFileError
from engine.faces.landmarks import load_shape_predictor
from engine.dlib.resnet import load_dlib_resnet


def test_integer_encoding_hand_computed() -> None:
    # control byte: low nibble = byte count, 0x80 = negative; magnitude little-endian.
    r = DlibReader(bytes([0x01, 0x00, 0x01, 0x05, 0x81, 0x05, 0x02, 0x2C, 0x01, 0x82, 0x00, 0x01]))
    assert [r.read_int(), r.read_int(), r.read_int(), r.read_int(), r.read_int()] == [0, 5, -5, 300, -256]


def test_float_encoding_hand_computed() -> None:
    # 1.0 = mantissa 16 * 2**-4: 01 10 81 04.  -0.75 = -3 * 2**-2: 81 03 81 02.
    r = DlibReader(bytes([0x01, 0x10, 0x81, 0x04, 0x81, 0x03, 0x81, 0x02, 0x01, 0x00, 0x02, 0x00, 0x7D]))
    assert r.read_float() == 1.0
    assert r.read_float() == -0.75
    assert r.read_float() == float("inf")  # exponent 32000


def _encode_int(value: int) -> bytes:
    magnitude = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude


def test_bulk_reads_equal_one_read_at_a_time() -> None:
    """read_ints / read_floats (the shape predictor's fast path) against read_int / read_float."""
    rng = np.random.default_rng(3)
    values = [int(v) for v in rng.integers(-(2**62), 2**62, 300)] + [0, 1, -1, 255, 256, 2**63 - 1, -(2**63 - 1)]
    stream = b"".join(_encode_int(v) for v in values)
    assert DlibReader(stream).read_ints(len(values)) == values
    floats = [(16, -4), (-3, -2), (0, 32000), (0, 32001), (0, 32002), (2**62 + 1, -1000), (-(2**52) - 7, 12)]
    stream = b"".join(_encode_int(m) + _encode_int(e) for m, e in floats)
    one, bulk = DlibReader(stream), DlibReader(stream).read_floats(len(floats))
    expected = [one.read_float() for _ in floats]
    np.testing.assert_array_equal(bulk, np.array(expected))
    assert bulk[0] == 1.0 and bulk[1] == -0.75 and np.isnan(bulk[4])


@pytest.mark.parametrize("stream, message", [
    (bytes([0x01, 0x05, 0x02, 0x01]), "truncated"),  # the second integer lacks a byte
    (bytes([0x01, 0x05, 0x3F]), "control byte"),
])
def test_bulk_reads_reject_damage(stream: bytes, message: str) -> None:
    with pytest.raises(ModelFileError, match=message):
        DlibReader(stream, "x.dat").read_ints(2)
    with pytest.raises(ModelFileError, match="exponent"):
        DlibReader(_encode_int(1) + _encode_int(5000), "x.dat").read_floats(1)


def test_string_bool_and_tensor() -> None:
    payload = bytes([0x01, 0x03]) + b"abc" + b"1" + b"0"
    # tensor: version 2, shape (1, 1, 1, 2), raw float32 values 1.5 and -2
    payload += bytes([0x01, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02])
    payload += np.array([1.5, -2.0], dtype="<f4").tobytes()
    r = DlibReader(payload)
    assert r.read_string() == "abc"
    assert r.read_bool() is True and r.read_bool() is False
    assert r.read_tensor().reshape(-1).tolist() == [1.5, -2.0]
    assert r.remaining == 0


@pytest.mark.parametrize(
    "data, method, message",
    [
        (bytes([0x02, 0x01]), "read_int", "truncated"),
        (bytes([0x3F]), "read_int", "control byte"),
        (bytes([0x01, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x04]) + b"\x00" * 8, "read_tensor", "truncated"),
        (bytes([0x01, 0x02, 0x81, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x04]), "read_tensor", "negative"),
        (b"2", "read_bool", "invalid bool"),
        (bytes([0x01, 0x05]) + b"ab", "read_string", "truncated"),
    ],
)
def test_malformed_primitives_raise(data: bytes, method: str, message: str) -> None:
    with pytest.raises(ModelFileError, match=message) as info:
        getattr(DlibReader(data, "x.dat"), method)()
    assert "x.dat" in str(info.value)


def test_real_files_parse_completely(model_files) -> None:
    resnet = parse_network_file(model_files.recognition)
    assert resnet.loss == {"type": "metric", "margin": pytest.approx(0.04), "distance_threshold": pytest.approx(0.6)}
    kinds = [layer.kind for layer in resnet.layers]
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14 and kinds[-1] == "fc"
    params = sum(
        layer.params["weight"].size + (0 if layer.params.get("bias") is None else layer.params["bias"].size)
        for layer in resnet.layers
        if layer.kind in ("con", "fc")
    ) + sum(2 * layer.params["scale"].size for layer in resnet.layers if layer.kind == "affine")
    assert params == 5_614_592  # as stated in docs/dlib-model-files.md
    mmod = parse_network_file(model_files.detector)
    assert mmod.loss["window"] == (80, 80)
    assert mmod.input["padding"] == 10 and mmod.input["outer_padding"] == 11


def _damaged_copies(path, tmp_path):
    data = path.read_bytes()
    rng = np.random.default_rng(7)
    cases = {
        "empty": b"",
        "truncated_head": data[:50],
        "truncated_half": data[: len(data) // 2],
        "truncated_tail": data[:-3],
        "random_bytes": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "extra_bytes": data + b"\x01\x00",
    }
    files = {}
    for name, content in cases.items():
        target = tmp_path / f"{path.stem}_{name}.dat"
        target.write_bytes(content)
        files[name] = target
    return files


@pytest.mark.parametrize("which", ["recognition", "detector"])
def test_damaged_network_files_raise_clear_errors(model_files, tmp_path, which) -> None:
    path = getattr(model_files, which)
    loader = load_dlib_resnet if which == "recognition" else FaceDetector
    for name, damaged in _damaged_copies(path, tmp_path).items():
        with pytest.raises(ModelFileError) as info:
            loader(damaged)
        assert str(damaged) in str(info.value), name


def test_corrupted_tensor_value_is_rejected(model_files) -> None:
    data = bytearray(model_files.detector.read_bytes())
    # Put a NaN into the first convolution's weights (raw float32 right after its header).
    header = DlibReader(bytes(data))
    header.pos = data.index(b"con_4") + len(b"con_4")
    for _ in range(5):  # tensor version, then its four dimensions
        header.read_int()
    start = header.pos
    data[start : start + 4] = np.array([np.nan], dtype="<f4").tobytes()
    with pytest.raises(ModelFileError, match="NaN"):
        parse_network_bytes(bytes(data), "nan.dat")


def test_wrong_model_kind_is_rejected(model_files) -> None:
    with pytest.raises(ModelFileError, match="metric"):
        load_dlib_resnet(model_files.detector)
    with pytest.raises(ModelFileError, match="MMOD"):
        FaceDetector(model_files.recognition)
    with pytest.raises(ModelFileError):
        load_shape_predictor(model_files.detector, use_cache=False)


def test_damaged_shape_predictor_raises(model_files, tmp_path) -> None:
    for damaged in _damaged_copies(model_files.landmarks, tmp_path).values():
        with pytest.raises(ModelFileError):
            load_shape_predictor(damaged, use_cache=False)


def test_shape_predictor_cache_is_reused_and_survives_damage(model_files, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FACENET_CACHE_DIR", str(tmp_path / "cache"))
    first = load_shape_predictor(model_files.landmarks)
    cached = list((tmp_path / "cache" / "models").glob("shape_predictor_*.npz"))
    assert len(cached) == 1
    assert not list((tmp_path / "cache" / "models").glob("*.tmp"))  # written atomically
    second = load_shape_predictor(model_files.landmarks)
    np.testing.assert_array_equal(first.leaf_values, second.leaf_values)
    cached[0].write_bytes(b"garbage")  # a damaged cache is rebuilt, not trusted
    third = load_shape_predictor(model_files.landmarks)
    np.testing.assert_array_equal(first.split_thresh, third.split_thresh)
