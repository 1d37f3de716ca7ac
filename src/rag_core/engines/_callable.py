"""An engine backed by a plain Python function: for tests and for custom scoring rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

from rag_core.engines._base import PairScores, ScoringEngine

__all__ = ["CallableEngine"]


class CallableEngine(ScoringEngine):
    """Scores each pair with ``fn(query, passage) -> logit``; the analogue of httpx's MockTransport.

    ``calls`` counts how many times :meth:`score` ran, ``pairs_scored`` how many pairs it saw,
    so tests can assert batching and "no model call" behaviour without a model.
    """

    backend: ClassVar[str] = "callable"

    def __init__(self, fn: Callable[[str, str], float], model_name: str = "callable", batch_size: int = 32) -> None:
        self.fn = fn
        self.model_name = model_name
        self.batch_size = batch_size
        self.calls = 0
        self.pairs_scored = 0

    def score(self, pairs: Sequence[tuple[str, str]]) -> PairScores:
        self.calls += 1
        self.pairs_scored += len(pairs)
        if not pairs:
            return PairScores.empty()
        logits = np.asarray([float(self.fn(q, p)) for q, p in pairs], dtype=np.float32)
        return PairScores(logits, np.ones(len(pairs), dtype=np.int64), np.zeros(len(pairs), dtype=bool))
