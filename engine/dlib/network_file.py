"""Parse dlib DNN files (dlib/dnn/core.h) into a flat list of layers, input to output.

dlib writes a network as nested `add_layer<L, SUB>` records: each writes its version, then
its sub-network, then its own details.  The file therefore starts with a run of version
ints (2 = a layer, 1 = a tag/skip layer that carries no data, 3 = the bottom layer on the
input) and then lists every layer's details from the input to the output.  Tag and skip ids
are not stored, so the residual wiring comes from the architecture, not from this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.dlib.file_format import DlibReader, read_model_bytes
from engine.errors import ModelFileError


@dataclass
class Layer:
    """One computational layer: `kind` is con/affine/bn/relu/max_pool/avg_pool/add_prev/fc."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class NetworkFile:
    loss: dict[str, Any]
    input: dict[str, Any]
    layers: list[Layer]


def _read_con(r: DlibReader, version: str) -> Layer:
    params = r.read_tensor().reshape(-1)
    num_filters, rows, cols = r.read_int(), r.read_int(), r.read_int()
    stride_y, stride_x, pad_y, pad_x = (r.read_int() for _ in range(4))
    filters, biases = r.read_alias_tensor(), r.read_alias_tensor()
    for _ in range(4):
        r.read_float()
    use_bias = r.read_bool() if version in ("con_5", "con_6") else True
    use_relu = r.read_bool() if version == "con_6" else False
    if use_relu:
        raise r.fail("convolutions with a fused relu are not supported")
    n_weights = int(np.prod(filters.shape))
    expected = n_weights + (num_filters if use_bias else 0)
    if params.size != expected or filters.shape[0] != num_filters:
        raise r.fail(f"convolution parameters have {params.size} values, expected {expected}")
    weight = params[:n_weights].reshape(filters.shape)
    if weight.shape[2:] != (rows, cols):
        raise r.fail("convolution kernel shape does not match its header")
    bias = params[n_weights:] if use_bias else None
    del biases
    return Layer(
        "con",
        {"weight": weight, "bias": bias, "stride": (stride_y, stride_x), "padding": (pad_y, pad_x)},
    )


def _read_affine(r: DlibReader, version: str) -> Layer:
    params = r.read_tensor().reshape(-1)
    gamma, _beta = r.read_alias_tensor(), r.read_alias_tensor()
    mode = r.read_int()
    disabled = r.read_bool() if version == "affine_2" else False
    if mode != 0:
        raise r.fail("only per-channel affine layers are supported")
    channels = int(np.prod(gamma.shape))
    if params.size != 2 * channels:
        raise r.fail("affine parameter count does not match its channels")
    scale, shift = params[:channels], params[channels:]
    if disabled:
        scale, shift = np.ones_like(scale), np.zeros_like(shift)
    return Layer("affine", {"scale": scale, "shift": shift})


def _read_bn(r: DlibReader, version: str) -> Layer:
    params = r.read_tensor().reshape(-1)
    gamma_alias, _beta_alias = r.read_alias_tensor(), r.read_alias_tensor()
    r.read_tensor()  # means of the last training batch
    r.read_tensor()  # invstds of the last training batch
    running_means = r.read_tensor().reshape(-1)
    running_vars = r.read_tensor().reshape(-1)
    r.read_uint()  # num_updates
    r.read_uint()  # running_stats_window_size
    for _ in range(4):
        r.read_float()
    eps = r.read_float()
    channels = int(np.prod(gamma_alias.shape))
    if params.size != 2 * channels or running_means.size != channels or running_vars.size != channels:
        raise r.fail("batch-norm statistics do not match its channels")
    # Fold to an affine in double, with the file's own eps (it matters: 1e-4 in the MMOD file).
    gamma = params[:channels].astype(np.float64)
    beta = params[channels:].astype(np.float64)
    scale = gamma / np.sqrt(running_vars.astype(np.float64) + eps)
    shift = beta - scale * running_means.astype(np.float64)
    return Layer("affine", {"scale": scale.astype(np.float32), "shift": shift.astype(np.float32)})


def _read_pool(r: DlibReader, version: str) -> Layer:
    rows, cols = r.read_int(), r.read_int()
    stride_y, stride_x, pad_y, pad_x = (r.read_int() for _ in range(4))
    kind = "max_pool" if version.startswith("max") else "avg_pool"
    return Layer(
        kind,
        {"window": (rows, cols), "stride": (stride_y, stride_x), "padding": (pad_y, pad_x)},
    )


def _read_fc(r: DlibReader, version: str) -> Layer:
    num_outputs, num_inputs = r.read_uint(), r.read_uint()
    params = r.read_tensor().reshape(-1)
    r.read_alias_tensor()
    r.read_alias_tensor()
    bias_mode = r.read_int()
    for _ in range(4):
        r.read_float()
    if version == "fc_3":
        r.read_bool()
    has_bias = bias_mode == 0
    rows = num_inputs + (1 if has_bias else 0)
    if params.size != rows * num_outputs:
        raise r.fail("fully connected parameter count does not match its shape")
    matrix = params.reshape(rows, num_outputs)
    return Layer(
        "fc",
        {"weight": matrix[:num_inputs].T.copy(), "bias": matrix[num_inputs].copy() if has_bias else None},
    )


_LAYER_READERS = {
    "con_4": _read_con,
    "con_5": _read_con,
    "con_6": _read_con,
    "affine_": _read_affine,
    "affine_2": _read_affine,
    "bn_con2": _read_bn,
    "max_pool_2": _read_pool,
    "avg_pool_2": _read_pool,
    "fc_2": _read_fc,
    "fc_3": _read_fc,
    "relu_": lambda r, v: Layer("relu"),
    "add_prev_": lambda r, v: Layer("add_prev"),
}


def _read_layer_details(r: DlibReader) -> Layer:
    version = r.read_string()
    reader = _LAYER_READERS.get(version)
    if reader is None:
        raise r.fail(f"unsupported layer type {version!r}")
    return reader(r, version)


def _read_layer_trailer(r: DlibReader, bottom: bool) -> None:
    for _ in range(3):
        r.read_bool()
    for _ in range(3):
        r.read_tensor()
    if bottom:
        r.read_uint()  # sample_expansion_factor


def _read_loss(r: DlibReader) -> dict[str, Any]:
    r.expect_int(1, "loss layer")
    version = r.expect_string("loss_metric_2", "loss_mmod_")
    if version == "loss_metric_2":
        return {"type": "metric", "margin": r.read_float(), "distance_threshold": r.read_float()}
    options_version = r.read_int()
    if options_version != 1:
        raise r.fail(f"unsupported mmod options version {options_version}")
    window = (r.read_uint(), r.read_uint())
    loss_per_false_alarm = r.read_float()
    loss_per_missed_target = r.read_float()
    truth_match_iou = r.read_float()
    nms_iou, nms_covered = r.read_float(), r.read_float()
    ignore_iou, ignore_covered = r.read_float(), r.read_float()
    del loss_per_false_alarm, loss_per_missed_target, truth_match_iou, ignore_iou, ignore_covered
    return {"type": "mmod", "window": window, "nms_iou": nms_iou, "nms_covered": nms_covered}


def _read_input(r: DlibReader) -> dict[str, Any]:
    version = r.expect_string("input_rgb_image_sized", "input_rgb_image_pyramid", "input_rgb_image_pyramid2")
    means = (r.read_float(), r.read_float(), r.read_float())
    if version == "input_rgb_image_sized":
        return {"type": "sized", "means": means, "rows": r.read_uint(), "cols": r.read_uint()}
    if version == "input_rgb_image_pyramid2":
        padding, outer_padding = r.read_uint(), r.read_uint()
    else:
        padding, outer_padding = 10, 11
    return {"type": "pyramid", "means": means, "padding": padding, "outer_padding": outer_padding}


def parse_network_bytes(data: bytes, path: str | Path | None = None) -> NetworkFile:
    r = DlibReader(data, path)
    loss = _read_loss(r)
    nested_layers = 0
    while True:
        version = r.read_int()
        if version == 3:
            break
        if version == 2:
            nested_layers += 1
        elif version != 1:  # 1 = tag or skip layer: no payload
            raise r.fail(f"unexpected layer version {version}")
        if nested_layers > 10_000:
            raise r.fail("implausible network depth")
    net_input = _read_input(r)
    layers = [_read_layer_details(r)]
    _read_layer_trailer(r, bottom=True)
    for _ in range(nested_layers):
        layers.append(_read_layer_details(r))
        _read_layer_trailer(r, bottom=False)
    if r.remaining:
        raise r.fail(f"{r.remaining} unexpected bytes after the network")
    return NetworkFile(loss=loss, input=net_input, layers=layers)


def parse_network_file(path: str | Path) -> NetworkFile:
    try:
        return parse_network_bytes(read_model_bytes(path), path)
    except ModelFileError:
        raise
    except (ValueError, OverflowError) as exc:  # numpy reshape on corrupted shapes
        raise ModelFileError(path, f"corrupted network file: {exc}") from exc
