"""What the service holds while it runs: settings, reranker, index, cache, metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rag_core import Document, RagRerankError
from rag_core.rerankers import BaseReranker
from rag_core.retrieval import HybridRetriever, SearchIndex
from rag_rerank.service.cache import CachedRanking, MemoryCache, RedisCache, RerankCache, cache_key
from rag_rerank.service.metrics import ServiceMetrics
from rag_rerank.settings import AppSettings

__all__ = ["RerankOutcome", "Services", "build_cache", "rerank_with_cache"]

logger = logging.getLogger("app")


@dataclass
class Services:
    settings: AppSettings
    metrics: ServiceMetrics
    reranker: BaseReranker | None = None
    reranker_error: str | None = None
    index: SearchIndex | None = None
    retriever: HybridRetriever | None = None
    index_error: str | None = None
    cache: RerankCache | None = None
    started: float = field(default_factory=time.time)

    def reranker_info(self) -> dict[str, Any] | None:
        return self.reranker.describe() if self.reranker is not None else None


def build_cache(settings: AppSettings) -> RerankCache | None:
    if not settings.reranker_cache_enabled:
        return None
    if settings.reranker_cache_url:
        return RedisCache(settings.reranker_cache_url, settings.reranker_cache_ttl)
    return MemoryCache(settings.reranker_cache_size, settings.reranker_cache_ttl)


@dataclass
class RerankOutcome:
    documents: list[Document]
    status: Literal["ok", "cached"]
    cache: str
    elapsed_ms: float


def _from_cache(ranking: CachedRanking, docs: Sequence[Document], top_n: int) -> list[Document] | None:
    """Rebuild a cached ranking onto this request's documents (None if they do not match)."""
    positions: dict[str, list[int]] = {}
    for i, doc in enumerate(docs):
        positions.setdefault(doc.key, []).append(i)
    out: list[Document] = []
    for rank, (key, score, raw) in enumerate(zip(ranking.keys, ranking.scores, ranking.raw, strict=True), start=1):
        slots = positions.get(key)
        if not slots:
            return None
        index = slots.pop(0)
        doc = docs[index].copy_with()
        doc.metadata.update(
            {
                "original_score": doc.score,
                "original_rank": index + 1,
                "rerank_score": score,
                "rerank_raw_score": raw,
                "rerank_rank": rank,
            }
        )
        doc.score = score
        out.append(doc)
        if len(out) == top_n:
            break
    return out


async def rerank_with_cache(
    services: Services, query: str, docs: list[Document], top_n: int, *, timeout_s: float | None = None
) -> RerankOutcome:
    """Rerank ``docs`` (a cache hit skips the model); raises whatever the reranker raises
    (``OverloadedError``, ``DeadlineExceededError`` after ``timeout_s``, ...)."""
    reranker = services.reranker
    if reranker is None:
        raise RagRerankError(services.reranker_error or "no reranker is loaded")
    started = time.perf_counter()
    metrics = services.metrics
    key = cache_key(reranker.model_name, query, docs) if services.cache is not None else ""
    cache_result = "disabled"
    if services.cache is not None:
        lookup = await services.cache.get(key)
        cache_result = lookup.result
        metrics.cache.labels(result=lookup.result).inc()
        if lookup.ranking is not None:
            rebuilt = _from_cache(lookup.ranking, docs, top_n)
            if rebuilt is not None:
                return RerankOutcome(rebuilt, "cached", "hit", (time.perf_counter() - started) * 1000)
    result = await reranker.rerank(query, docs, top_n=len(docs), timeout_s=timeout_s)
    metrics.pairs_scored.inc(len(docs))
    metrics.batch_documents.observe(len(docs))
    if result.stats.top1_changed:
        metrics.top1_changed.inc()
    if services.cache is not None and cache_result != "bypass":
        ranking = CachedRanking(
            [d.key for d in result],
            [float(d.score or 0.0) for d in result],
            [float(d.metadata.get("rerank_raw_score", 0.0)) for d in result],
        )
        await services.cache.set(key, ranking)
    top = list(result)[:top_n]
    for doc in top:
        metrics.scores.observe(float(doc.score or 0.0))
    elapsed = (time.perf_counter() - started) * 1000
    metrics.rerank_seconds.observe(elapsed / 1000)
    return RerankOutcome(top, "ok", cache_result, elapsed)
