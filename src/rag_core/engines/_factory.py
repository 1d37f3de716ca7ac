"""Choosing and building an engine from settings-level options."""

from __future__ import annotations

import logging
from typing import Literal

from rag_core.engines._base import ScoringEngine
from rag_core.engines._tokenization import LongDocumentMode
from rag_core.engines._torch import Precision, TorchEngine, pick_device

__all__ = ["Backend", "Quantization", "create_engine"]

logger = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "onnx"]
Quantization = Literal["none", "int8"]


def create_engine(
    model_name: str,
    *,
    backend: Backend = "auto",
    quantize: Quantization = "none",
    device: str | None = None,
    batch_size: int = 32,
    max_length: int | None = None,
    max_batch_tokens: int = 8192,
    long_documents: LongDocumentMode = "chunk",
    precision: Precision = "auto",
    threads: int | None = None,
    revision: str | None = None,
) -> ScoringEngine:
    """Build the engine for ``model_name``.

    ``auto`` picks ONNX Runtime on CPU and torch on a GPU.
    """
    resolved = pick_device(device)
    if backend == "auto":
        backend = "torch" if resolved != "cpu" else "onnx"
    if backend == "onnx":
        from rag_core.engines._onnx import OnnxEngine

        return OnnxEngine(
            model_name,
            quantize=quantize,
            batch_size=batch_size,
            max_length=max_length,
            max_batch_tokens=max_batch_tokens,
            long_documents=long_documents,
            threads=threads,
            revision=revision,
        )
    if quantize != "none":
        logger.warning("quantize=%s applies to the ONNX backend only; torch runs unquantised", quantize)
    return TorchEngine(
        model_name,
        device=resolved,
        batch_size=batch_size,
        max_length=max_length,
        max_batch_tokens=max_batch_tokens,
        long_documents=long_documents,
        precision=precision,
        threads=threads,
        revision=revision,
    )
