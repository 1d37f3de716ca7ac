"""The spec's ``CrossEncoderReranker``: a cross-encoder scores every (query, document) pair."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from rag_core._documents import Document
from rag_core.engines import (
    Backend,
    EngineOptions,
    LongDocumentMode,
    PairScores,
    Quantization,
    ScoringEngine,
    create_engine,
)
from rag_core.engines._cache import PairScoreCache
from rag_core.engines._microbatch import MicroBatcher, estimate_cost
from rag_core.engines._tokenization import PairTokenizer
from rag_core.engines._torch import Precision
from rag_core.rerankers._base import BaseReranker, DocumentScores, sigmoid
from rag_core.rerankers._fusion import FusionSetting, recommended_fusion

__all__ = ["DEFAULT_MODEL", "CrossEncoderReranker"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"


class CrossEncoderReranker(BaseReranker):
    """Reranks with a cross-encoder (``[CLS] query [SEP] document [SEP]`` → logit → sigmoid).

    ``model_name`` is a Hugging Face hub id or a local folder. Scoring goes through a
    :class:`~rag_core.engines.ScoringEngine` (torch, ONNX Runtime, or one passed as ``engine``).
    ``rerank_score`` is ``sigmoid(logit)`` in float64; ``rerank_windows`` tells how many
    passage windows a long document was scored in (its best window counts).
    """

    name: ClassVar[str] = "cross_encoder"

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        top_n: int = 5,
        batch_size: int = 32,
        max_length: int | None = None,
        device: str | None = None,
        *,
        backend: Backend = "auto",
        quantize: Quantization = "auto",
        long_documents: LongDocumentMode = "chunk",
        max_windows: int | None = None,
        max_batch_tokens: int = 8192,
        precision: Precision = "auto",
        threads: int | None = None,
        revision: str | None = None,
        microbatch_wait_ms: float = 2.0,
        max_queue_tokens: int | None = None,
        max_queue_wait_s: float | None = None,
        score_cache_size: int = 50_000,
        fusion: FusionSetting = "none",
        fusion_weight: float | None = None,
        engine: ScoringEngine | None = None,
        instruction: str | None = None,
    ) -> None:
        super().__init__(top_n=top_n, fusion=fusion, fusion_weight=fusion_weight, instruction=instruction)
        if batch_size < 1:
            from rag_core._errors import InvalidInputError

            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        self.options = EngineOptions(
            backend=backend,
            quantize=quantize,
            precision=precision,
            device=device,
            batch_size=batch_size,
            max_length=max_length,
            max_batch_tokens=max_batch_tokens,
            long_documents=long_documents,
            max_windows=max_windows,
            threads=threads,
            revision=revision,
        )
        self.engine = engine or create_engine(model_name, self.options)
        if engine is None or self.name != "cross_encoder":  # a model loaded from a folder has a card
            self.languages = self.card_languages(model_name)
        self.batch_size = batch_size
        self.max_windows = max_windows
        if fusion == "auto" and engine is None:  # the model's own recommendation (rag_rerank.json), else none
            method, weight = recommended_fusion(model_name)
            self.fusion = method
            if fusion_weight is None and weight is not None:
                self.fusion_weight = weight
        self._batcher = MicroBatcher(
            self.engine,
            wait_ms=microbatch_wait_ms,
            max_queue_cost=max_queue_tokens,
            cost=self._pair_costs,
            max_wait_s=max_queue_wait_s,
        )
        self.score_cache = PairScoreCache(score_cache_size)
        self._seed_throughput()

    def _seed_throughput(self) -> None:
        """Admission control estimates waits from the throughput; the engine choice measured it
        already, so the first requests are not admitted blind."""
        selection = getattr(self.engine, "selection", None) or {}
        rows = {r.get("engine"): r for r in selection.get("measured", [])}
        rate = (rows.get(selection.get("chosen")) or {}).get("pairs_per_s")
        if rate:
            from rag_core.engines._select import calibration_pairs

            pairs = [p for group in calibration_pairs() for p in group]
            self._batcher.seed_throughput(float(rate) * sum(self._pair_costs(pairs)) / len(pairs))

    def _pair_costs(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """Estimated tokens per pair, capped at what its windows can hold."""
        length = getattr(self.engine, "max_length", None)
        cap = None if length is None or self.max_windows is None else int(length) * self.max_windows
        return [estimate_cost([pair], max_pair_cost=cap) for pair in pairs]

    def estimate_cost(self, query: str, texts: Sequence[str]) -> int:
        return sum(self._pair_costs([(query, t) for t in texts]))

    def count_tokens(self, query: str, texts: Sequence[str]) -> int:
        pairs = [(query, t) for t in texts]
        counter = getattr(self.engine, "count_tokens", None)
        if counter is not None:  # an engine that knows its prompts (LLM)
            return int(counter(pairs))
        tokenizer = getattr(self.engine, "tokenizer", None)
        if isinstance(tokenizer, PairTokenizer):
            return int(tokenizer.count_tokens(pairs))
        return self.estimate_cost(query, texts)

    @property
    def pending_cost(self) -> int:
        return self._batcher.pending_cost

    @property
    def model_name(self) -> str:
        return self.engine.model_name

    @property
    def backend(self) -> str:
        return self.engine.backend

    @property
    def engine_name(self) -> str:
        return self.engine.engine_name

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "native": self.engine.native}

    def _score_pairs_cached(self, pairs: list[tuple[str, str]]) -> PairScores:
        found, missing = self.score_cache.split(pairs)
        fresh = self._batcher.score([pairs[i] for i in missing]) if missing else None
        if fresh is not None:
            self.score_cache.store([pairs[i] for i in missing], fresh)
        return self.score_cache.assemble(len(pairs), found, missing, fresh)

    def _score_documents(self, query: str, documents: Sequence[Document]) -> DocumentScores:
        return self._to_scores(self._score_pairs_cached([(query, doc.page_content) for doc in documents]))

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> DocumentScores:
        """Scores of (query, passage) pairs of any number of queries, in one engine call (what a
        serving layer that merges requests, such as a Ray Serve batch, needs)."""
        if not pairs:
            return self._to_scores(PairScores.empty())
        return self._to_scores(self._score_pairs_cached(list(pairs)))

    def check_admission(self, query: str, documents: Sequence[Document], deadline: float | None = None) -> None:
        pairs = [(query, doc.page_content) for doc in documents]
        _, missing = self.score_cache.split(pairs)
        if missing:
            self._batcher.check([pairs[i] for i in missing], deadline=deadline)

    async def _score_documents_async(
        self, query: str, documents: Sequence[Document], *, deadline: float | None = None
    ) -> DocumentScores:
        pairs = [(query, doc.page_content) for doc in documents]
        found, missing = self.score_cache.split(pairs)
        fresh = None
        if missing:  # only what this query has not scored before goes to the engine
            todo = [pairs[i] for i in missing]
            fresh = await asyncio.wrap_future(self._batcher.submit(todo, deadline=deadline))
            self.score_cache.store(todo, fresh)
        return self._to_scores(self.score_cache.assemble(len(pairs), found, missing, fresh))

    def _to_scores(self, result: PairScores) -> DocumentScores:
        extra = [{"rerank_windows": int(w)} for w in result.windows]
        for item, truncated in zip(extra, result.truncated, strict=True):
            if truncated:
                item["rerank_truncated"] = True
        return DocumentScores(sigmoid(result.logits), result.logits.astype("float64"), extra)

    def reset_caches(self) -> None:
        self.score_cache.clear()

    def close(self) -> None:
        super().close()
        self._batcher.close()
        self.engine.close()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "native": self.engine.native,
            "engine_details": self.engine.describe(),
            "microbatch": self._batcher.stats(),
            "score_cache": self.score_cache.stats(),
        }
