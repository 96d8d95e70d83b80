"""dlib's MMOD face detector network (mmod_human_face_detector.dat) as a torch module, in
the layout oneDNN runs fastest on a CPU; the outputs equal the file's network but for the
order of the sums.  The pyramid, the mapping back to pixels and NMS: engine.faces.detector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.dlib.layers import conv_with_affine
from engine.dlib.network_file import NetworkFile, parse_network_file
from engine.errors import ModelFileError


@dataclass(frozen=True)
class MmodFile:
    network: nn.Module  # (1, 3, H, W) channels-last tiled pyramid -> (1, 1, h, w) scores
    file: NetworkFile  # the parsed file: input means and padding, loss window and NMS levels


def load_mmod_network(model_path: str | Path) -> tuple[MmodFile, list[nn.Conv2d]]:
    """The network and its convolutions as the file has them (their strides, paddings and
    kernels give the mapping from output cells to input pixels)."""
    model_path = Path(model_path)
    net = parse_network_file(model_path)
    if net.loss.get("type") != "mmod" or net.input.get("type") != "pyramid":
        raise ModelFileError(model_path, "not an MMOD detector network")
    layers = net.layers
    convs = []
    i = 0
    while i < len(layers):
        if layers[i].kind != "con":
            raise ModelFileError(model_path, f"unexpected detector layer {layers[i].kind}")
        affine = layers[i + 1] if i + 1 < len(layers) and layers[i + 1].kind == "affine" else None
        convs.append(conv_with_affine(layers[i], affine))
        i += 2 if affine is not None else 1
        if i < len(layers) and layers[i].kind == "relu":
            i += 1
    fast = widen_channels(convs)
    if fast[-1].out_channels == 1:
        fast[-1] = SingleOutputConv2d.from_conv(fast[-1])
    # channels_last lets oneDNN run these convolutions 1.5-2x faster on CPU (measured).
    network = MmodNetwork(fast).eval().to(memory_format=torch.channels_last)
    return MmodFile(network, net), convs


class MmodNetwork(nn.Module):
    def __init__(self, convs: list[nn.Conv2d]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs[:-1]:
            x = F.relu_(conv(x))  # in place: 4% faster (no fresh activation per layer)
        return self.convs[-1](x)


def widen_channels(convs: list[nn.Conv2d], multiple: int = 8) -> list[nn.Conv2d]:
    """The same network with every hidden layer's channels padded to a multiple of
    `multiple` by filters of zeros (zero bias, so the extra channels stay exactly 0 through
    ReLU, and the next layer gives them zero weights).  oneDNN runs 45 -> 48 channels a
    third faster than 45 -> 45 on AVX2 (measured: 33 against 44 ms for one 5 x 5 layer on a
    0.5 MP pyramid); the outputs are unchanged but for the order of the sums."""
    widened: list[nn.Conv2d] = []
    in_channels = convs[0].in_channels
    for index, conv in enumerate(convs):
        last = index == len(convs) - 1
        out_channels = conv.out_channels if last else -(-conv.out_channels // multiple) * multiple
        wide = nn.Conv2d(in_channels, out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True)
        with torch.no_grad():
            wide.weight.zero_()
            wide.bias.zero_()
            wide.weight[: conv.out_channels, : conv.in_channels] = conv.weight
            if conv.bias is not None:
                wide.bias[: conv.out_channels] = conv.bias
        widened.append(wide)
        in_channels = out_channels
    return widened


class SingleOutputConv2d(nn.Conv2d):
    """A k x k convolution to one output channel, run as a 1 x k convolution with one output
    channel per kernel row (padded to a multiple of 8), whose k row results are then added
    with the right vertical shifts.  oneDNN runs the detector's last layer (45 -> 1, 9 x 9)
    at a tenth of the speed of the others; this takes 40% of its time (measured: 8 against
    20 ms on a 0.5 MP pyramid).  The sums run in another order: scores differ by about 1e-6."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> SingleOutputConv2d:
        single = cls(conv.in_channels, 1, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
        single.load_state_dict(conv.state_dict())
        return single

    def _row_filters(self) -> torch.Tensor:
        """(rows padded to a multiple of 8, C, 1, k): kernel row dy as output channel dy
        (built per call: 20 microseconds, so a changed weight is never stale)."""
        k = self.kernel_size[0]
        rows = torch.zeros((-(-k // 8) * 8, self.in_channels, 1, k), dtype=self.weight.dtype)
        rows[:k] = self.weight.detach()[0].permute(1, 0, 2)[:, :, None, :]
        return rows.contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size[0]
        if x.shape[0] != 1 or self.stride != (1, 1) or self.kernel_size != (k, k) or self.padding[0] != self.padding[1]:
            return super().forward(x)
        height, pad = x.shape[2], self.padding[0]
        # rows[dy, r, c] = sum over channels and dx of weight[dy, dx] * x[r, c + dx - pad]
        # the k row results are added in float32 whatever the convolution ran in (bf16 sums
        # of nine terms would cost the scores two more bits)
        rows = F.conv2d(x, self._row_filters(), padding=(0, pad))[0, :k].float().contiguous()
        out_height = height + 2 * pad - k + 1
        out = torch.zeros((out_height, rows.shape[2]), dtype=torch.float32)
        for dy in range(k):
            # output row y reads input row y + dy - pad, where that row exists
            first, stop = max(0, pad - dy), min(out_height, height + pad - dy)
            if first < stop:
                out[first:stop] += rows[dy, first + dy - pad : stop + dy - pad]
        if self.bias is not None:
            out += self.bias.detach()[0]
        return out[None, None]
