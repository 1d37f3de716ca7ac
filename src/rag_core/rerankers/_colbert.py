"""Late-interaction reranking (``RERANKER_TYPE=colbert``): ColBERT / PyLate checkpoints, MaxSim."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rag_core.engines import PairScores
from rag_core.engines._colbert import ColbertEngine
from rag_core.models import builtin_options
from rag_core.rerankers._base import DocumentScores
from rag_core.rerankers._cross_encoder import CrossEncoderReranker
from rag_core.rerankers._fusion import FusionSetting

__all__ = ["ColbertReranker"]


class ColbertReranker(CrossEncoderReranker):
    """Reranks by MaxSim of query and passage token vectors (see :mod:`rag_core.engines._colbert`).

    ``rerank_raw_score`` is the mean best cosine per query token (in [-1, 1]); ``rerank_score``
    maps it to [0, 1] (``(1 + cosine) / 2``). Passage vectors are cached by content, so the same
    passages cost only the query the next time; the micro-batcher, admission control and
    deadlines are the cross-encoder's.
    """

    name: ClassVar[str] = "colbert"

    def __init__(
        self,
        model_name: str = "builtin:answerai-colbert-small",
        top_n: int = 5,
        batch_size: int = 32,
        max_length: int | None = None,
        device: str | None = None,
        *,
        query_length: int | None = None,
        cache_mb: float = 256.0,
        threads: int | None = None,
        revision: str | None = None,
        microbatch_wait_ms: float = 2.0,
        max_queue_tokens: int | None = None,
        max_queue_wait_s: float | None = None,
        score_cache_size: int = 50_000,
        fusion: FusionSetting = "none",
        fusion_weight: float | None = None,
        instruction: str | None = None,
    ) -> None:
        options: dict[str, Any] = builtin_options(model_name)
        if max_length is not None:
            options["document_length"] = max_length
        if query_length is not None:
            options["query_length"] = query_length
        engine = ColbertEngine(
            model_name, cache_mb=cache_mb, batch_size=batch_size, threads=threads, revision=revision, **options
        )
        super().__init__(
            model_name,
            top_n=top_n,
            batch_size=batch_size,
            microbatch_wait_ms=microbatch_wait_ms,
            max_queue_tokens=max_queue_tokens,
            max_queue_wait_s=max_queue_wait_s,
            score_cache_size=score_cache_size,
            fusion="none" if fusion == "auto" else fusion,
            fusion_weight=fusion_weight,
            instruction=instruction,
            engine=engine,
        )
        self.colbert = engine

    def _to_scores(self, result: PairScores) -> DocumentScores:
        raw = result.logits.astype(np.float64)
        return DocumentScores((1.0 + raw) / 2.0, raw, [{"rerank_windows": 1} for _ in raw])
