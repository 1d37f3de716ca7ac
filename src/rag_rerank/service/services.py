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
    #: RERANKER_MULTILINGUAL_MODEL: scores what the main model's card says it does not read
    multilingual: BaseReranker | None = None
    index: SearchIndex | None = None
    retriever: HybridRetriever | None = None
    index_error: str | None = None
    cache: RerankCache | None = None
    started: float = field(default_factory=time.time)

    def reranker_info(self) -> dict[str, Any] | None:
        if self.reranker is None:
            return None
        info = self.reranker.describe()
        if self.multilingual is not None:
            info["multilingual"] = self.multilingual.identity()
        return info

    def reranker_for(self, query: str, docs: Sequence[Document]) -> tuple[BaseReranker | None, str | None]:
        """The reranker for this request, and the language warning when the main model does not
        read its script (the multilingual model, when one is configured, scores it instead)."""
        if self.reranker is None:
            return None, None
        warning = self.reranker.language_gap(query, [d.page_content for d in docs])
        if warning is not None and self.multilingual is not None:
            return self.multilingual, f"{warning.split(':')[0]}: scored by {self.multilingual.model_name}"
        return self.reranker, warning


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
    instruction: str | None = None
    language_warning: str | None = None
    model: str | None = None


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
    services: Services,
    query: str,
    docs: list[Document],
    top_n: int,
    *,
    timeout_s: float | None = None,
    instruction: str | None = None,
) -> RerankOutcome:
    """Rerank ``docs`` (a cache hit skips the model); raises whatever the reranker raises
    (``OverloadedError``, ``DeadlineExceededError`` after ``timeout_s``, ...)."""
    reranker, warning = services.reranker_for(query, docs)
    if reranker is None:
        raise RagRerankError(services.reranker_error or "no reranker is loaded")
    started = time.perf_counter()
    metrics = services.metrics
    used = (instruction or reranker.instruction or reranker.default_instruction) if reranker.takes_instruction else None
    keyed_query = query if used is None else f"{used}\x1f{query}"  # another instruction, another ranking
    key = cache_key(reranker.model_name, keyed_query, docs) if services.cache is not None else ""
    cache_result = "disabled"
    if services.cache is not None:
        lookup = await services.cache.get(key)
        cache_result = lookup.result
        metrics.cache.labels(result=lookup.result).inc()
        if lookup.ranking is not None:
            rebuilt = _from_cache(lookup.ranking, docs, top_n)
            if rebuilt is not None:
                elapsed = (time.perf_counter() - started) * 1000
                return RerankOutcome(rebuilt, "cached", "hit", elapsed, used, warning, reranker.model_name)
    result = await reranker.rerank(query, docs, top_n=len(docs), timeout_s=timeout_s, instruction=instruction)
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
    return RerankOutcome(top, "ok", cache_result, elapsed, result.stats.instruction, warning, reranker.model_name)
