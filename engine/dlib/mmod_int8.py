"""The MMOD detector network with its hidden convolutions in int8 (oneDNN), the last layer
in float32.

On this project's AVX2 machines the int8 convolutions run 2x faster than float32's and the
whole network 1.65x (measured: 96 against 159 ms for a 0.5 MP pyramid, one thread).
Activations use 7 bits (0..127): without VNNI the processor adds pairs of u8 x s8 products
into 16 bits, which overflow with 8-bit activations (measured: score errors of 2.3 with 8
bits, 0.57 with 7).  On 435 real photos scores moved by up to 0.77 anywhere in the map but
by at most 0.14 on the cells float32 puts above the threshold, so the detector scores the
cells near its threshold again in float32 (engine.faces.detector) and the boxes stay
float32's exactly (benchmarks/int8_detector.py).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn

# Each hidden layer's activation limit: its int8 output's scale is this / 127.  The rare
# activations above it (0-0.008% on real photos) use the eighth bit, up to twice the limit,
# where they saturate; they are too rare to overflow a 16-bit pair sum (tested on real
# photos).  Chosen by torch's HistogramObserver (least quantisation error) on 40 LFW photos
# as the detector searches them: `python benchmarks/int8_detector.py --calibrate`.
ACTIVATION_LIMITS = (4.70, 4.63, 2.99, 2.74, 4.29, 8.67)
LEVELS = 127  # 7-bit activations (see the module docstring)
QUANTIZED_ENGINE = "onednn"


def int8_supported(capabilities: Mapping[str, object] | None = None) -> bool:
    """int8 convolutions pay where oneDNN has AVX2 or better (the x86 and fbgemm engines
    ran this network no faster than float32: 0.95x, measured)."""
    caps = torch.cpu.get_capabilities() if capabilities is None else capabilities
    return bool(caps.get("avx2")) and engine_available()


def engine_available() -> bool:
    """Whether this torch build has oneDNN's quantised engine (some builds lack it)."""
    return QUANTIZED_ENGINE in quantized_engines()


def quantized_engines() -> list[str]:
    return list(torch.backends.quantized.supported_engines)


@contextlib.contextmanager
def quantized_tensors_allowed() -> Iterator[None]:
    """torch warns that quantised tensor creation is deprecated; we pin the torch that has it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantize_per_", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*quantized", category=DeprecationWarning)
        yield


class Int8MmodNetwork:
    """Callable like the float32 network: (1, 3, H, W) float tiled pyramid -> (1, 1, h, w)
    float32 scores.  Read-only after construction, so scan workers share one."""

    def __init__(self, convs: Sequence[nn.Conv2d], last: nn.Module, means: Sequence[float],
                 limits: Sequence[float] = ACTIVATION_LIMITS) -> None:
        if len(limits) != len(convs):
            raise ValueError(f"{len(limits)} activation limits for {len(convs)} hidden layers")
        torch.backends.quantized.engine = QUANTIZED_ENGINE  # the packed weights are engine-specific
        # The tiled input is (pixel - mean) / 256 for pixels 0..255, and 0 in the padding: this
        # range in 127 steps loses nothing a photo's 8-bit pixels hold beyond half a level.
        low, high = -max(means) / 256.0, (255.0 - min(means)) / 256.0
        self.input_scale = (high - low) / LEVELS
        self.input_zero = round(-low / self.input_scale)
        self.output_scales = [limit / LEVELS for limit in limits]
        # torch warns once per process that quantised tensors are deprecated: packing the
        # weights here takes that warning, so `forward`, which scan workers call at the same
        # time, needs no warnings filter (catch_warnings is not thread-safe).
        with quantized_tensors_allowed():
            self.packed = [self._pack(conv) for conv in convs]
        self.last = last

    @staticmethod
    def _pack(conv: nn.Conv2d) -> object:
        weight = conv.weight.detach().float()
        # per-channel symmetric; the zero filters that widen a layer get a harmless scale
        scales = (weight.abs().amax(dim=(1, 2, 3)) / 127.0).clamp_min(1e-12).double()
        quantized = torch.quantize_per_channel(weight, scales, torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8)
        bias = conv.bias.detach().float() if conv.bias is not None else None
        return torch.ops.quantized.conv2d_prepack(quantized, bias, list(conv.stride), list(conv.padding), list(conv.dilation), conv.groups)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x, self.input_scale, self.input_zero, torch.quint8)
        for packed, scale in zip(self.packed, self.output_scales, strict=True):
            q = torch.ops.quantized.conv2d_relu(q, packed, scale, 0)
        hidden = q.dequantize()
        return self.last(hidden.contiguous(memory_format=torch.channels_last))
