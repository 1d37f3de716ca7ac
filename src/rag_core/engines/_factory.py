"""Choosing and building an engine from settings-level options."""

from __future__ import annotations

import logging
from typing import Any, Literal

from rag_core.engines._base import ScoringEngine
from rag_core.engines._tokenization import LongDocumentMode
from rag_core.engines._torch import Precision, TorchEngine, pick_device

__all__ = ["Backend", "Quantization", "create_engine"]

logger = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "onnx"]
Quantization = Literal["auto", "none", "int8"]


def create_engine(
    model_name: str,
    *,
    backend: Backend = "auto",
    quantize: Quantization = "auto",
    device: str | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    max_batch_tokens: int = 8192,
    long_documents: LongDocumentMode = "chunk",
    max_windows: int | None = None,
    precision: Precision = "auto",
    threads: int | None = None,
    revision: str | None = None,
    reselect: bool = False,
) -> ScoringEngine:
    """Build the engine for ``model_name``.

    ``backend``, ``quantize`` and ``precision`` left at ``auto`` are chosen by measurement on
    this machine (see :mod:`rag_core.engines._select`; the decision is cached); any of them
    pinned restricts the choice, and when the pins leave one way to run the model it is built
    without measuring (``reselect`` measures again even when a decision is cached). The
    returned engine's ``describe()`` says what was chosen and why.
    """
    from rag_core.engines._loading import default_threads
    from rag_core.engines._select import EngineSpec, decision_key, eligible_specs, select_engine

    resolved = pick_device(device)
    common: dict[str, Any] = {
        "batch_size": batch_size,
        "max_length": max_length,
        "max_batch_tokens": max_batch_tokens,
        "long_documents": long_documents,
        "max_windows": max_windows,
        "threads": threads,
        "revision": revision,
    }
    onnx_ok = resolved == "cpu" and _has_onnxruntime()
    specs = eligible_specs(resolved, backend=backend, quantize=quantize, precision=precision, onnx_available=onnx_ok)
    if not specs:  # pins that cannot hold together: relax them, and say so
        if backend == "onnx":
            logger.warning("the ONNX backend runs on the CPU only (asked for %s): using the CPU", resolved)
            resolved = "cpu"
            specs = [EngineSpec("onnx", "float32", "int8" if quantize == "int8" else "none")]
        else:
            if quantize == "int8":
                logger.warning("quantize=int8 needs the ONNX backend; torch runs unquantised")
            specs = [EngineSpec("torch", "float32" if precision == "auto" else precision)]

    def build(spec: EngineSpec) -> ScoringEngine:
        if spec.backend == "onnx":
            from rag_core.engines._onnx import OnnxEngine

            return OnnxEngine(model_name, quantize=spec.quantize, **common)
        return TorchEngine(model_name, device=resolved, precision=spec.precision, **common)  # type: ignore[arg-type]

    key = None
    if len(specs) > 1:
        from rag_core._hub import resolve_model_dir

        key = decision_key(resolve_model_dir(model_name, revision), resolved, threads or default_threads(), specs)
    engine, selection = select_engine(specs, build, key=key, model_name=model_name, reselect=reselect)
    engine.selection = selection
    return engine


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency, but a torch-only install may strip it
        return False
    return True
