"""The FaceNet paper's Inception network (NN2, after GoogLeNet), with batch norm in place
of local response normalisation, ending in an L2-normalised embedding.

`width` scales every channel count and `input_size` the image: the paper's NN2 is width 1
at 224 px; NN4 is the same net at 96 px, and a width of 0.25-0.5 at 64-96 px is in the
spirit of its small CPU-friendly NNS models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class ConvBnRelu(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class L2Pool(nn.Module):
    """Square root of the mean of squares over a window (the paper's "L2" pooling)."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(F.avg_pool2d(x * x, 3, self.stride, 1) + 1e-6)


@dataclass(frozen=True)
class InceptionSpec:
    """Channel counts of one Inception module (0 = branch absent), as in the paper's table."""

    one: int  # 1x1 branch
    three_reduce: int
    three: int
    five_reduce: int
    five: int
    pool: str  # "max" or "l2"
    pool_proj: int  # 1x1 after the pool, 0 = pass the pooled input through
    stride: int = 1


class Inception(nn.Module):
    def __init__(self, cin: int, spec: InceptionSpec) -> None:
        super().__init__()
        s = spec.stride
        self.one = ConvBnRelu(cin, spec.one, 1, s) if spec.one else None
        self.three = nn.Sequential(ConvBnRelu(cin, spec.three_reduce, 1), ConvBnRelu(spec.three_reduce, spec.three, 3, s))
        self.five = (
            nn.Sequential(ConvBnRelu(cin, spec.five_reduce, 1), ConvBnRelu(spec.five_reduce, spec.five, 5, s))
            if spec.five
            else None
        )
        pool = nn.MaxPool2d(3, s, 1) if spec.pool == "max" else L2Pool(s)
        self.pool = nn.Sequential(pool, ConvBnRelu(cin, spec.pool_proj, 1)) if spec.pool_proj else pool
        self.out_channels = spec.one + spec.three + spec.five + (spec.pool_proj or cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [b(x) for b in (self.one, self.three, self.five) if b is not None]
        return torch.cat([*parts, self.pool(x)], dim=1)


# NN2 from Schroff et al., table 2 (module: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool, proj).
NN2_MODULES = [
    ("3a", InceptionSpec(64, 96, 128, 16, 32, "max", 32)),
    ("3b", InceptionSpec(64, 96, 128, 32, 64, "l2", 64)),
    ("3c", InceptionSpec(0, 128, 256, 32, 64, "max", 0, stride=2)),
    ("4a", InceptionSpec(256, 96, 192, 32, 64, "l2", 128)),
    ("4b", InceptionSpec(224, 112, 224, 32, 64, "l2", 128)),
    ("4c", InceptionSpec(192, 128, 256, 32, 64, "l2", 128)),
    ("4d", InceptionSpec(160, 144, 288, 32, 64, "l2", 128)),
    ("4e", InceptionSpec(0, 160, 256, 64, 128, "max", 0, stride=2)),
    ("5a", InceptionSpec(384, 192, 384, 48, 128, "l2", 128)),
    ("5b", InceptionSpec(384, 192, 384, 48, 128, "max", 128)),
]


def _scaled(spec: InceptionSpec, width: float) -> InceptionSpec:
    def w(c: int) -> int:
        return max(8, round(c * width)) if c else 0

    return InceptionSpec(
        w(spec.one), w(spec.three_reduce), w(spec.three), w(spec.five_reduce), w(spec.five),
        spec.pool, w(spec.pool_proj), spec.stride,
    )


class InceptionFaceNet(nn.Module):
    """(N, 3, S, S) images scaled to [-1, 1] -> (N, embedding_size) unit vectors."""

    def __init__(self, width: float = 1.0, embedding_size: int = 128) -> None:
        super().__init__()
        stem = max(8, round(64 * width))
        mid = max(8, round(192 * width))
        self.stem = nn.Sequential(
            ConvBnRelu(3, stem, 7, 2),
            nn.MaxPool2d(3, 2, 1),
            ConvBnRelu(stem, stem, 1),
            ConvBnRelu(stem, mid, 3),
            nn.MaxPool2d(3, 2, 1),
        )
        modules, channels = [], mid
        for name, spec in NN2_MODULES:
            module = Inception(channels, _scaled(spec, width))
            modules.append((name, module))
            channels = module.out_channels
        self.inception = nn.Sequential()
        for name, module in modules:
            self.inception.add_module(name, module)
        self.embedding = nn.Linear(channels, embedding_size, bias=False)
        # Batch norm before the L2 normalisation keeps a freshly initialised network from
        # mapping every face to nearly the same direction (measured: without it, training
        # from scratch on ORL collapsed to loss = margin).
        self.embedding_norm = nn.BatchNorm1d(embedding_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inception(self.stem(x))
        x = x.mean(dim=(2, 3))
        return F.normalize(self.embedding_norm(self.embedding(x)), dim=1)
