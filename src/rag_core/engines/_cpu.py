"""What the CPU can do: its model name and the instruction-set flags that decide which reduced
precisions run natively (the detection seam that tests replace)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

__all__ = ["cpu_flags", "cpu_model", "native_precisions"]


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The ``flags`` (x86) or ``Features`` (Arm) of ``/proc/cpuinfo``; empty when unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.cache
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: Flags that give native (not emulated) matrix products in a reduced precision.
_NATIVE = {
    "bfloat16": ("avx512_bf16", "amx_bf16", "bf16"),  # x86 AVX-512 BF16 / AMX; Arm BF16
    "float16": ("avx512_fp16", "amx_fp16", "fphp"),  # x86 AVX-512 FP16 / AMX-FP16; Arm half precision
}


def native_precisions(flags: frozenset[str] | None = None) -> set[str]:
    """Reduced precisions this CPU computes natively (float32 always)."""
    flags = cpu_flags() if flags is None else flags
    return {"float32"} | {p for p, needed in _NATIVE.items() if any(f in flags for f in needed)}
