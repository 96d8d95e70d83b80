"""Torch building blocks that reproduce dlib's layer arithmetic."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.dlib.network_file import Layer


def conv_with_affine(con: Layer, affine: Layer | None) -> nn.Conv2d:
    """A Conv2d whose weights already include the following per-channel affine (folded BN)."""
    weight = con.params["weight"].astype(np.float64)
    out_channels = weight.shape[0]
    bias = con.params["bias"]
    bias = np.zeros(out_channels) if bias is None else bias.astype(np.float64)
    if affine is not None:
        scale = affine.params["scale"].astype(np.float64)
        weight = weight * scale[:, None, None, None]
        bias = bias * scale + affine.params["shift"].astype(np.float64)
    conv = nn.Conv2d(
        weight.shape[1],
        out_channels,
        kernel_size=weight.shape[2:],
        stride=con.params["stride"],
        padding=con.params["padding"],
        bias=True,
    )
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
        conv.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    return conv


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the output takes the larger size on each axis; the smaller input is
    zero-padded at the end of channels, rows and columns (never cropped)."""
    if a.shape == b.shape:
        return a + b
    target = [max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True)]

    def pad(t: torch.Tensor) -> torch.Tensor:
        c, h, w = t.shape[1:]
        return F.pad(t, (0, target[2] - w, 0, target[1] - h, 0, target[0] - c))

    return pad(a) + pad(b)
