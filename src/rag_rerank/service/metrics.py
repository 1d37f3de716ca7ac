"""Prometheus metrics of the service (one registry per app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ServiceMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """Request latencies per route, reranking volume, cache outcomes, A/B variants, failures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_seconds = Histogram(
            "rag_rerank_request_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rerank_seconds = Histogram(
            "rag_rerank_rerank_seconds", "Time spent reranking one request", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.retrieval_seconds = Histogram(
            "rag_rerank_retrieval_seconds", "Time spent retrieving candidates", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.pairs_scored = Counter("rag_rerank_pairs_scored_total", "Query-document pairs scored", registry=r)
        self.batch_documents = Histogram(
            "rag_rerank_batch_documents",
            "Documents per rerank call",
            buckets=(1, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=r,
        )
        self.cache = Counter("rag_rerank_cache_total", "Cache lookups by outcome", ["result"], registry=r)
        self.top1_changed = Counter(
            "rag_rerank_top1_changed_total", "Rerank calls that changed the top document", registry=r
        )
        self.failures = Counter("rag_rerank_failures_total", "Rerank failures", ["route"], registry=r)
        self.requests = Counter(
            "rag_rerank_query_requests_total",
            "/query requests by A/B variant and status",
            ["variant", "status"],
            registry=r,
        )
        self.scores = Histogram(
            "rag_rerank_score",
            "Distribution of returned rerank scores",
            buckets=(0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99),
            registry=r,
        )
        self.rejected = Counter(
            "rag_rerank_rejected_total",
            "Requests whose reranking was refused or abandoned, by reason "
            "(overloaded, timeout, too_large, disconnected)",
            ["reason"],
            registry=r,
        )
        self.queue_tokens = Gauge(
            "rag_rerank_queue_tokens", "Estimated tokens queued or being scored by the reranker", registry=r
        )
        self.reranker_ready = Gauge("rag_rerank_reranker_ready", "1 when a reranker is loaded", registry=r)
        self.reranker_fallback = Gauge(
            "rag_rerank_reranker_fallback", "1 when the fallback model is in use", registry=r
        )
