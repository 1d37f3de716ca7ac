"""Scoring engines: interchangeable inference backends behind one seam (:class:`ScoringEngine`)."""

from __future__ import annotations

from rag_core.engines._base import PairScores, ScoringEngine, TransformerEngine, logits_to_scores
from rag_core.engines._callable import CallableEngine
from rag_core.engines._factory import Backend, EngineOptions, Quantization, create_engine, decide_engine
from rag_core.engines._llm import INSTRUCTION_SEPARATOR, LlmEngine, compose_instruction, split_instruction
from rag_core.engines._loading import default_threads
from rag_core.engines._microbatch import MicroBatcher
from rag_core.engines._onnx import OnnxEngine
from rag_core.engines._tokenization import EncodedBatch, EncodedPairs, LongDocumentMode, PairTokenizer, token_counter
from rag_core.engines._torch import TorchEngine, pick_device

__all__ = [
    "INSTRUCTION_SEPARATOR",
    "Backend",
    "CallableEngine",
    "EncodedBatch",
    "EncodedPairs",
    "EngineOptions",
    "LlmEngine",
    "LongDocumentMode",
    "MicroBatcher",
    "OnnxEngine",
    "PairScores",
    "PairTokenizer",
    "Quantization",
    "ScoringEngine",
    "TorchEngine",
    "TransformerEngine",
    "compose_instruction",
    "create_engine",
    "decide_engine",
    "default_threads",
    "logits_to_scores",
    "pick_device",
    "split_instruction",
    "token_counter",
]
