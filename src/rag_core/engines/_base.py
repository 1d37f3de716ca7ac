"""The scoring seam: an engine turns (query, passage) pairs into raw relevance logits."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

from rag_core.engines._tokenization import EncodedBatch, PairTokenizer

__all__ = ["PairScores", "ScoringEngine", "TransformerEngine", "logits_to_scores"]

logger = logging.getLogger(__name__)

Pair = tuple[str, str]


class PairScores(NamedTuple):
    """Raw logits for a list of pairs, one per pair, in the input order.

    ``windows[i]`` is how many passage windows pair ``i`` was scored in (its logit is the best
    window's, "max-p"); ``truncated[i]`` says tokens were dropped (``truncate`` mode only).
    """

    logits: np.ndarray
    windows: np.ndarray
    truncated: np.ndarray

    @classmethod
    def empty(cls) -> PairScores:
        return cls(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool))


class ScoringEngine(ABC):
    """Interface every inference backend implements (torch, ONNX Runtime, a function in tests).

    Implementations must be safe to call from one worker thread at a time; rerankers serialise
    calls, and the micro-batcher merges concurrent requests into shared calls.
    """

    backend: ClassVar[str] = "abstract"
    model_name: str = ""
    batch_size: int = 32
    #: How this engine was chosen (``RERANKER_BACKEND=auto``): the choice, the reason, the measurements.
    selection: dict[str, Any] | None = None

    @abstractmethod
    def score(self, pairs: Sequence[Pair]) -> PairScores:
        """Score ``pairs``; the result has one logit per pair, in order. Never mutates input."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (sessions, GPU memory)."""

    @property
    def engine_name(self) -> str:
        """The engine as the ``engines`` table names it (``torch-fp32``, ``onnx-int8``, ...)."""
        return self.backend

    #: False when the engine runs a precision this CPU emulates (a pin honoured on the wrong node).
    native: bool = True

    def describe(self) -> dict[str, Any]:
        """What the engine is, for logs, ``/health`` and benchmark output."""
        info: dict[str, Any] = {
            "backend": self.backend,
            "engine": self.engine_name,
            "model": self.model_name,
            "batch_size": self.batch_size,
        }
        if self.selection is not None:
            info["selection"] = self.selection
        return info


def logits_to_scores(logits: np.ndarray) -> np.ndarray:
    """Reduce a (batch, num_labels) classifier output to one relevance logit per row.

    One label: that logit. Two labels: ``logit[1] - logit[0]``, whose sigmoid is the softmax
    probability of "relevant".
    """
    if logits.ndim == 1:
        return logits
    if logits.shape[1] == 1:
        return logits[:, 0]
    if logits.shape[1] == 2:
        return logits[:, 1] - logits[:, 0]
    raise ValueError(f"a reranker head has 1 or 2 outputs, this model has {logits.shape[1]}")


class TransformerEngine(ScoringEngine):
    """Shared driver for transformer backends: tokenise, batch by token budget, forward, max-p."""

    def __init__(
        self,
        model_name: str,
        tokenizer: PairTokenizer,
        *,
        batch_size: int = 32,
        max_batch_tokens: int = 8192,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be >= 1, got {max_batch_tokens}")
        self.model_name = model_name
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens

    @property
    def max_length(self) -> int:
        return self.tokenizer.max_length

    @abstractmethod
    def _forward(self, batch: EncodedBatch) -> np.ndarray:
        """Return one float logit per row of ``batch``."""

    def score(self, pairs: Sequence[Pair]) -> PairScores:
        if not pairs:
            return PairScores.empty()
        encoded = self.tokenizer.encode(pairs)
        window_logits = np.empty(len(encoded.windows), dtype=np.float32)
        for batch in self.tokenizer.batches(encoded, self.batch_size, self.max_batch_tokens):
            window_logits[batch.rows] = self._forward(batch)
        logits = np.full(len(pairs), -np.inf, dtype=np.float32)
        np.maximum.at(logits, encoded.owner, window_logits)
        return PairScores(logits, encoded.window_counts, encoded.truncated)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "max_length": self.max_length,
            "max_batch_tokens": self.max_batch_tokens,
            "long_documents": self.tokenizer.long_documents,
        }
