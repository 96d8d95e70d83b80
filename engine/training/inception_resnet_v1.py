"""Inception-ResNet-v1 (Szegedy et al., 2016) as used by the public FaceNet checkpoints:
160x160 input standardised as (x - 127.5) / 128, 512-D L2-normalised embedding.

Parameter names follow the state dicts those checkpoints are distributed with (conv2d_1a,
repeat_1..3, mixed_6a, mixed_7a, block8, last_linear, last_bn), so a user who owns such a
file can load it with `--model`; nothing is downloaded.  A classifier head (`logits.*`) in a
file is ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 160
EMBEDDING_SIZE = 512


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (TensorFlow's eps) -> relu."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0) -> None:  # noqa: ANN001
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001, momentum=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _chain(*layers: tuple) -> nn.Sequential:
    return nn.Sequential(*(BasicConv2d(*args) for args in layers))


class _Residual(nn.Module):
    """Parallel branches, concatenated, projected back by a 1x1 conv, scaled, added."""

    def __init__(self, channels: int, branch_out: int, scale: float, relu: bool) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(branch_out, channels, 1)
        self.scale = scale
        self.relu = relu

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d(torch.cat(self.branches(x), dim=1)) * self.scale + x
        return F.relu(out) if self.relu else out


class Block35(_Residual):
    def __init__(self, scale: float = 0.17) -> None:
        super().__init__(256, 96, scale, relu=True)
        self.branch0 = BasicConv2d(256, 32, 1)
        self.branch1 = _chain((256, 32, 1), (32, 32, 3, 1, 1))
        self.branch2 = _chain((256, 32, 1), (32, 32, 3, 1, 1), (32, 32, 3, 1, 1))

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.branch0(x), self.branch1(x), self.branch2(x)]


class Block17(_Residual):
    def __init__(self, scale: float = 0.10) -> None:
        super().__init__(896, 256, scale, relu=True)
        self.branch0 = BasicConv2d(896, 128, 1)
        self.branch1 = _chain((896, 128, 1), (128, 128, (1, 7), 1, (0, 3)), (128, 128, (7, 1), 1, (3, 0)))

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.branch0(x), self.branch1(x)]


class Block8(_Residual):
    def __init__(self, scale: float = 0.20, relu: bool = True) -> None:
        super().__init__(1792, 384, scale, relu=relu)
        self.branch0 = BasicConv2d(1792, 192, 1)
        self.branch1 = _chain((1792, 192, 1), (192, 192, (1, 3), 1, (0, 1)), (192, 192, (3, 1), 1, (1, 0)))

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.branch0(x), self.branch1(x)]


class Mixed6a(nn.Module):
    """Reduction 35 -> 17: 256 -> 384 + 256 + 256 = 896 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, 2)
        self.branch1 = _chain((256, 192, 1), (192, 192, 3, 1, 1), (192, 256, 3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), F.max_pool2d(x, 3, 2)], dim=1)


class Mixed7a(nn.Module):
    """Reduction 17 -> 8: 896 -> 384 + 256 + 256 + 896 = 1792 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = _chain((896, 256, 1), (256, 384, 3, 2))
        self.branch1 = _chain((896, 256, 1), (256, 256, 3, 2))
        self.branch2 = _chain((896, 256, 1), (256, 256, 3, 1, 1), (256, 256, 3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), F.max_pool2d(x, 3, 2)], dim=1)


class InceptionResnetV1(nn.Module):
    def __init__(self, dropout: float = 0.6) -> None:
        super().__init__()
        self.conv2d_1a = BasicConv2d(3, 32, 3, 2)
        self.conv2d_2a = BasicConv2d(32, 32, 3)
        self.conv2d_2b = BasicConv2d(32, 64, 3, 1, 1)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.conv2d_4b = BasicConv2d(192, 256, 3, 2)
        self.repeat_1 = nn.Sequential(*(Block35() for _ in range(5)))
        self.mixed_6a = Mixed6a()
        self.repeat_2 = nn.Sequential(*(Block17() for _ in range(10)))
        self.mixed_7a = Mixed7a()
        self.repeat_3 = nn.Sequential(*(Block8() for _ in range(5)))
        self.block8 = Block8(scale=1.0, relu=False)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(1792, EMBEDDING_SIZE, bias=False)
        self.last_bn = nn.BatchNorm1d(EMBEDDING_SIZE, eps=0.001, momentum=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))
        x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(F.max_pool2d(x, 3, 2))))
        x = self.block8(self.repeat_3(self.mixed_7a(self.repeat_2(self.mixed_6a(self.repeat_1(x))))))
        x = self.dropout(x.mean(dim=(2, 3)))
        return F.normalize(self.last_bn(self.last_linear(x)), dim=1)

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a FaceNet checkpoint's state dict, without its classifier head."""
        features = {k: v for k, v in state.items() if not k.startswith("logits.")}
        self.load_state_dict(features, strict=True)
