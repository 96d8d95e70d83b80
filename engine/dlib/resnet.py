"""dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1.dat) in torch.

The file lists layers input to output but not the residual wiring, so the structure is
recognised here: a stem, then residual blocks (identity or down-sampling), then a global
average pool and a 256->128 linear layer without bias.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.dlib.network_file import Layer, NetworkFile, parse_network_file
from engine.errors import ModelFileError
from engine.dlib.layers import add_zero_padded, conv_with_affine

CHIP_SIZE = 150
EMBEDDING_SIZE = 128


class ResidualBlock(nn.Module):
    """conv-affine-relu-conv-affine, plus a shortcut (identity, or 2x2 average pool when the
    block down-samples), added with dlib's zero-padding rule, then relu."""

    def __init__(self, first: nn.Conv2d, second: nn.Conv2d, downsample: bool) -> None:
        super().__init__()
        self.first = first
        self.second = second
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.second(F.relu(self.first(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(add_zero_padded(y, shortcut))


class DlibResNet(nn.Module):
    """Maps 150x150 RGB chips (N, 3, 150, 150, already normalised) to raw 128-D descriptors."""

    def __init__(self, stem: nn.Conv2d, blocks: list[ResidualBlock], fc: nn.Linear) -> None:
        super().__init__()
        self.stem = stem
        self.blocks = nn.Sequential(*blocks)
        self.fc = fc

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 256-D pooled features before the final linear layer."""
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def _expect(layers: list[Layer], index: int, kind: str, path: Path | None) -> Layer:
    if index >= len(layers) or layers[index].kind != kind:
        found = layers[index].kind if index < len(layers) else "end of file"
        raise ModelFileError(path, f"unexpected ResNet layout: layer {index} is {found}, expected {kind}")
    return layers[index]


def build_dlib_resnet(net: NetworkFile, path: Path | None = None) -> DlibResNet:
    layers = net.layers
    if net.input.get("type") != "sized" or net.input.get("rows") != CHIP_SIZE:
        raise ModelFileError(path, "not a 150x150 face-recognition network")
    i = 0
    stem = conv_with_affine(_expect(layers, 0, "con", path), _expect(layers, 1, "affine", path))
    _expect(layers, 2, "relu", path)
    pool = _expect(layers, 3, "max_pool", path)
    if pool.params["window"] != (3, 3) or pool.params["stride"] != (2, 2):
        raise ModelFileError(path, "unexpected stem pooling")
    i = 4
    blocks: list[ResidualBlock] = []
    while i < len(layers) and layers[i].kind == "con":
        first = conv_with_affine(layers[i], _expect(layers, i + 1, "affine", path))
        _expect(layers, i + 2, "relu", path)
        second = conv_with_affine(_expect(layers, i + 3, "con", path), _expect(layers, i + 4, "affine", path))
        i += 5
        downsample = layers[i].kind == "avg_pool"
        if downsample:
            shortcut_pool = layers[i].params
            if shortcut_pool["window"] != (2, 2) or shortcut_pool["stride"] != (2, 2):
                raise ModelFileError(path, "unexpected shortcut pooling")
            i += 1
        _expect(layers, i, "add_prev", path)
        _expect(layers, i + 1, "relu", path)
        i += 2
        blocks.append(ResidualBlock(first, second, downsample))
    final_pool = _expect(layers, i, "avg_pool", path)
    if final_pool.params["window"] != (0, 0):
        raise ModelFileError(path, "expected a global average pool before the embedding layer")
    fc_layer = _expect(layers, i + 1, "fc", path)
    if i + 2 != len(layers):
        raise ModelFileError(path, "unexpected layers after the embedding layer")
    weight = fc_layer.params["weight"]
    if weight.shape != (EMBEDDING_SIZE, 256) or fc_layer.params["bias"] is not None:
        raise ModelFileError(path, f"unexpected embedding layer shape {weight.shape}")
    fc = nn.Linear(256, EMBEDDING_SIZE, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.from_numpy(weight))
    model = DlibResNet(stem, blocks, fc)
    model.eval()
    return model


def load_dlib_resnet(path: str | Path) -> tuple[DlibResNet, tuple[float, float, float]]:
    """Load the network and the per-channel input means it was trained with."""
    path = Path(path)
    net = parse_network_file(path)
    if net.loss.get("type") != "metric":
        raise ModelFileError(path, "not a metric-learning (face recognition) network")
    return build_dlib_resnet(net, path), net.input["means"]
