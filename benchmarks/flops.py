"""FLOP counting and this machine's FP32 peak, for the GFLOP/s figures."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn


def conv_flops(model: nn.Module, example: torch.Tensor) -> float:
    """Multiply-adds x 2 of every Conv2d and Linear in one forward pass of `example`.

    Only useful work counts: channels padded with all-zero weights (the detector's 45 -> 48,
    engine.dlib.mmod.widen_channels) are left out, so widening never inflates the figure."""
    total = 0.0

    def conv_hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        weight = module.weight.detach()
        used_out = int((weight.flatten(1) != 0).any(dim=1).sum())
        used_in = int((weight.transpose(0, 1).flatten(1) != 0).any(dim=1).sum()) if module.groups == 1 else module.in_channels
        k = module.kernel_size[0] * module.kernel_size[1] * used_in // module.groups
        total += 2.0 * k * output.numel() * used_out / module.out_channels

    def linear_hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += 2.0 * module.in_features * output.numel()

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    with torch.inference_mode():
        model(example)
    for handle in handles:
        handle.remove()
    return total


def theoretical_peak_gflops() -> tuple[float, str]:
    """cores x clock x FP32 FLOP per cycle (32 with AVX-512/AVX2 and two FMA pipes)."""
    mhz = 0.0
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":")[1])
            if line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    per_cycle = 32 if " fma" in flags and ("avx2" in flags or "avx512f" in flags) else 8
    cores = os.cpu_count() or 1
    return cores * mhz / 1000 * per_cycle, f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOP/cycle"


def measured_gemm_gflops(size: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """A large matrix product's GFLOP/s in `dtype` (bf16 reaches AMX / AVX-512 BF16 via oneDNN)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    elapsed = time.perf_counter() - start
    return 2.0 * size**3 * repeats / elapsed / 1e9


def measured_int8_product_gops(size: int = 512, repeats: int = 10) -> float:
    """A large int8 product's GOP/s through the path the int8 detector uses (oneDNN's
    quantised convolution with ReLU, 7-bit activations): a 1 x 1 convolution of `size`
    channels over a 128 x 128 map, a (16384 x size) by (size x size) product.
    torch._int_mm has no fast CPU path (2 GOP/s here)."""
    from engine.dlib.mmod_int8 import Int8MmodNetwork, quantized_tensors_allowed

    side = 128
    network = Int8MmodNetwork([nn.Conv2d(size, size, 1)], nn.Identity(), means=(128.0, 128.0, 128.0), limits=(8.0,))
    x = (torch.rand(1, size, side, side) - 0.5).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), quantized_tensors_allowed():
        q = torch.quantize_per_tensor(x, network.input_scale, network.input_zero, torch.quint8)
        torch.ops.quantized.conv2d_relu(q, network.packed[0], network.output_scales[0], 0)
        start = time.perf_counter()
        for _ in range(repeats):
            torch.ops.quantized.conv2d_relu(q, network.packed[0], network.output_scales[0], 0)
    elapsed = time.perf_counter() - start
    return 2.0 * side * side * size * size * repeats / elapsed / 1e9
