"""Which arithmetic the face networks run in: bfloat16 where the processor has bf16 matrix
units, float32 everywhere else; and the detector's hidden layers in int8 where oneDNN runs
int8 convolutions (AVX2 and later).

On an Intel Xeon with AMX, bf16 runs the detector and the embedder about 2.3x faster; on a
processor without such units torch emulates bf16 at a tenth of the float32 speed.  So the
choice is made at run time from what the processor reports, and `FACENET_PRECISION=fp32`
forces the plain path (`bf16` and `int8` force reduced precision, for tests and
measurements).  bf16 keeps a float32 accumulator: embeddings match float32's within the
tolerances measured by `benchmarks/precision_check.py`, so both share one model version.
The detector scores the cells near its threshold again in float32 whichever reduced
arithmetic made its map, so its boxes are float32's exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import torch

from engine.dlib import mmod_int8
from engine.errors import SettingError
from engine.settings import current_settings

PRECISION_ENV = "FACENET_PRECISION"
PrecisionName = Literal["fp32", "bf16"]
DetectorArithmetic = Literal["fp32", "bf16", "int8"]
SETTING_VALUES = ("auto", "fp32", "bf16", "int8")
# Units that multiply bf16 matrices natively: Intel AMX, AVX-512 BF16 (Zen 4, Cooper Lake on).
BF16_MATRIX_UNITS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Precision:
    name: PrecisionName  # the float arithmetic: the embedder's, and the detector's unless int8
    reason: str  # one plain sentence, for logs and the benchmark tables
    detector_int8: bool = False

    @property
    def reduced(self) -> bool:
        return self.name == "bf16"

    @property
    def detector(self) -> DetectorArithmetic:
        return "int8" if self.detector_int8 else self.name


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
    if wanted == "int8":
        if not mmod_int8.engine_available():
            raise SettingError(f"{PRECISION_ENV}=int8: this torch has no {mmod_int8.QUANTIZED_ENGINE} int8 convolutions")
        return Precision("fp32", "int8 detector (forced), float32 embedder", detector_int8=True)
    if wanted != "auto":
        raise SettingError(f"{PRECISION_ENV} must be {', '.join(SETTING_VALUES[:-1])} or {SETTING_VALUES[-1]}, not {wanted!r}")
    int8 = mmod_int8.int8_supported(capabilities)
    detector = "int8 detector, " if int8 else ""
    units = bf16_units(capabilities)
    if units and torch.backends.mkldnn.is_available():
        return Precision("bf16", f"{detector}bfloat16 (the processor has {', '.join(units)})", detector_int8=int8)
    return Precision("fp32", f"{detector}float32 (no bf16 matrix units on this processor)", detector_int8=int8)


@contextlib.contextmanager
def computing_in(precision: Precision) -> Iterator[None]:
    """Network calls inside run in `precision`; float32 layers stay float32 outside it."""
    if precision.reduced:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield
