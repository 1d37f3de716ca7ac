"""What the machine can do: the CPU's model name and instruction-set flags, the reduced
precisions and int8 paths it runs natively, and whether a CUDA GPU is there.

This module is the seam between the library and the hardware. Everything that depends on the
CPU (the engines ``auto`` may measure, whether a pinned bf16 runs natively, the decision key)
asks :func:`current_cpu`, never ``/proc/cpuinfo`` directly, so that another kind of machine can
be simulated:

* in tests and notebooks, ``with simulate_cpu("avx512-bf16"): ...`` (or a :class:`CpuProfile`);
* for a whole process, ``RAG_RERANK_CPU=amx`` (a profile name of :data:`PROFILES`, or
  ``flags:avx2,fma``), for example to check what a deployment would choose on another node.

A simulated CPU changes what the library *believes*; the arithmetic still runs on the real one
(torch computes bf16 on any CPU, slowly where it is emulated).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PROFILES",
    "CpuProfile",
    "cpu_flags",
    "cpu_model",
    "cuda_available",
    "current_cpu",
    "native_precisions",
    "simulate_cpu",
    "simulate_cuda",
]

#: Flags that give native (not emulated) matrix products in a reduced precision.
_NATIVE = {
    "bfloat16": ("avx512_bf16", "amx_bf16", "bf16"),  # x86 AVX-512 BF16 / AMX; Arm BF16
    "float16": ("avx512_fp16", "amx_fp16", "fphp"),  # x86 AVX-512 FP16 / AMX-FP16; Arm half precision
}
#: int8 dot-product units, best first: AMX tiles, AVX-512 VNNI, AVX-VNNI (AVX2 encoding), Arm i8mm/dotprod.
_INT8 = (
    ("amx", ("amx_int8",)),
    ("avx512-vnni", ("avx512_vnni",)),
    ("avx-vnni", ("avx_vnni",)),
    ("arm-i8mm", ("i8mm", "asimddp")),
)
#: Flags that matter to inference speed (the rest of /proc/cpuinfo is noise for a decision key).
_RELEVANT = ("avx", "amx", "fma", "f16c", "bf16", "fphp", "asimd", "i8mm", "sve", "sse4")


@dataclass(frozen=True)
class CpuProfile:
    """A CPU as the library sees it: a model name and its feature flags."""

    model: str
    flags: frozenset[str] = field(default_factory=frozenset)
    simulated: bool = False

    @property
    def native_precisions(self) -> set[str]:
        """Precisions with native matrix units (float32 always)."""
        return {"float32"} | {p for p, needed in _NATIVE.items() if any(f in self.flags for f in needed)}

    @property
    def int8_units(self) -> str:
        """The best int8 dot-product unit: ``amx``, ``avx512-vnni``, ``avx-vnni``, ``arm-i8mm`` or
        ``none`` (int8 then runs on plain AVX2/NEON multiplies: faster than fp32, by less)."""
        for name, needed in _INT8:
            if any(f in self.flags for f in needed):
                return name
        return "none"

    @property
    def has_avx512(self) -> bool:
        return "avx512f" in self.flags

    @property
    def kind(self) -> str:
        """A short label: ``amx``, ``avx512-bf16``, ``avx512-vnni``, ``avx512``, ``avx2``, ``arm``, ``other``."""
        kinds = (
            ("amx", ("amx_tile", "amx_bf16")),
            ("avx512-bf16", ("avx512_bf16",)),
            ("avx512-vnni", ("avx512_vnni",)),
            ("avx512", ("avx512f",)),
            ("avx2", ("avx2",)),
            ("arm", ("asimd",)),
        )
        return next((name for name, needed in kinds if any(f in self.flags for f in needed)), "other")

    def relevant_flags(self) -> list[str]:
        """The flags that can change which engine is fastest (for decision keys and reports)."""
        return sorted(f for f in self.flags if f.startswith(_RELEVANT))

    def describe(self) -> dict[str, object]:
        return {
            "model": self.model,
            "kind": self.kind,
            "native_precisions": sorted(self.native_precisions),
            "int8_units": self.int8_units,
            "simulated": self.simulated,
        }


_AVX2 = frozenset({"sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c"})
_AVX512 = _AVX2 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}
#: Simulated machines, one per branch the library takes: AVX2 only (older Intel, AMD Zen 2/3),
#: AVX-512 with VNNI (Intel Cascade Lake, Ice Lake), AVX-512 with BF16 (AMD Zen 4/5, Intel Cooper
#: Lake), AMX (Intel Sapphire Rapids and later: bf16 and int8 tiles, AVX-512 FP16), an Arm server
#: with BF16 and i8mm (Graviton 3), and a CPU with no SIMD worth naming.
PROFILES: dict[str, CpuProfile] = {
    "avx2": CpuProfile("simulated AVX2 CPU", _AVX2, True),
    "avx512-vnni": CpuProfile("simulated AVX-512 VNNI CPU", _AVX512 | {"avx512_vnni"}, True),
    "avx512-bf16": CpuProfile("simulated AVX-512 BF16 CPU", _AVX512 | {"avx512_vnni", "avx512_bf16"}, True),
    "amx": CpuProfile(
        "simulated AMX CPU",
        _AVX512 | {"avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni"},
        True,
    ),
    "arm-bf16": CpuProfile("simulated Arm CPU", frozenset({"fp", "asimd", "asimddp", "fphp", "bf16", "i8mm"}), True),
    "baseline": CpuProfile("simulated baseline CPU", frozenset({"sse4_1", "sse4_2"}), True),
}

_override: CpuProfile | None = None
_cuda_override: bool | None = None


@functools.cache
def _real_cpu() -> CpuProfile:
    flags: frozenset[str] = frozenset()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not flags and line.startswith(("flags", "Features")):
                flags = frozenset(line.split(":", 1)[1].split())
            elif not model and line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if flags and model:
                break
    except OSError:
        pass
    return CpuProfile(model or platform.processor() or platform.machine(), flags)


def _from_environment() -> CpuProfile | None:
    value = os.environ.get("RAG_RERANK_CPU", "").strip()
    if not value:
        return None
    if value.startswith("flags:"):
        flags = frozenset(f.strip() for f in value[6:].split(",") if f.strip())
        return CpuProfile(f"simulated CPU ({value})", flags, True)
    if value not in PROFILES:
        from rag_core._errors import ConfigurationError

        raise ConfigurationError(
            f"RAG_RERANK_CPU={value!r} is not a known profile; use one of {', '.join(PROFILES)} or flags:a,b,c"
        )
    return PROFILES[value]


def current_cpu() -> CpuProfile:
    """The CPU the library plans for: a simulated one when set, else this machine's."""
    if _override is not None:
        return _override
    return _from_environment() or _real_cpu()


@contextlib.contextmanager
def simulate_cpu(profile: str | CpuProfile, *, cuda: bool | None = None) -> Iterator[CpuProfile]:
    """Make the library believe it runs on ``profile`` (a name of :data:`PROFILES` or a
    :class:`CpuProfile`) inside the block; ``cuda`` also simulates (not) having a GPU."""
    global _override, _cuda_override
    chosen = PROFILES[profile] if isinstance(profile, str) else profile
    saved = (_override, _cuda_override)
    _override = chosen
    if cuda is not None:
        _cuda_override = cuda
    try:
        yield chosen
    finally:
        _override, _cuda_override = saved


@contextlib.contextmanager
def simulate_cuda(available: bool = True) -> Iterator[None]:
    """Make the library believe a CUDA GPU is (or is not) there, inside the block."""
    global _cuda_override
    saved = _cuda_override
    _cuda_override = available
    try:
        yield
    finally:
        _cuda_override = saved


def cuda_available() -> bool:
    """Whether a CUDA GPU is usable (or simulated)."""
    if _cuda_override is not None:
        return _cuda_override
    import torch

    return bool(torch.cuda.is_available())


def cpu_flags() -> frozenset[str]:
    """The ``flags`` (x86) or ``Features`` (Arm) of the CPU :func:`current_cpu` describes."""
    return current_cpu().flags


def cpu_model() -> str:
    return current_cpu().model


def native_precisions(flags: frozenset[str] | None = None) -> set[str]:
    """Reduced precisions the CPU computes natively (float32 always)."""
    if flags is None:
        return current_cpu().native_precisions
    return CpuProfile("", flags).native_precisions
