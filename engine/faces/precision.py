"""Which arithmetic the face networks run in: bfloat16 where the processor has bf16 matrix
units, float32 everywhere else.

On an Intel Xeon with AMX, bf16 runs the detector and the embedder about 2.3x faster; on a
processor without such units torch emulates bf16 at a tenth of the float32 speed.  So the
choice is made at run time from what the processor reports, and `FACENET_PRECISION=fp32`
forces the plain path (`bf16` forces reduced precision, for tests and measurements).
bf16 keeps a float32 accumulator: detections and embeddings match float32's within the
tolerances measured by `benchmarks/precision_check.py`, so both share one model version.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import torch

from engine.errors import SettingError
from engine.settings import current_settings

PRECISION_ENV = "FACENET_PRECISION"
PrecisionName = Literal["fp32", "bf16"]
# Units that multiply bf16 matrices natively: Intel AMX, AVX-512 BF16 (Zen 4, Cooper Lake on).
BF16_MATRIX_UNITS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Precision:
    name: PrecisionName
    reason: str  # one plain sentence, for logs and the benchmark tables

    @property
    def reduced(self) -> bool:
        return self.name == "bf16"


FP32 = Precision("fp32", "float32 (forced)")


def bf16_units(capabilities: Mapping[str, object] | None = None) -> list[str]:
    """The processor's bf16 matrix units torch reports (empty on plain AVX2 machines)."""
    caps = torch.cpu.get_capabilities() if capabilities is None else capabilities
    return [unit for unit in BF16_MATRIX_UNITS if caps.get(unit)]


def choose_precision(setting: str | None = None, capabilities: Mapping[str, object] | None = None) -> Precision:
    """`setting` (default: $FACENET_PRECISION, else "auto") resolved against the processor."""
    wanted = (setting if setting is not None else current_settings().precision).strip().lower() or "auto"
    if wanted == "fp32":
        return FP32
    if wanted == "bf16":
        return Precision("bf16", "bfloat16 (forced)")
    if wanted != "auto":
        raise SettingError(f"{PRECISION_ENV} must be auto, fp32 or bf16, not {wanted!r}")
    units = bf16_units(capabilities)
    if units and torch.backends.mkldnn.is_available():
        return Precision("bf16", f"bfloat16 (the processor has {', '.join(units)})")
    return Precision("fp32", "float32 (no bf16 matrix units on this processor)")


@contextlib.contextmanager
def computing_in(precision: Precision) -> Iterator[None]:
    """Network calls inside run in `precision`; float32 layers stay float32 outside it."""
    if precision.reduced:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield
