"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_core.rerankers import BaseReranker
from rag_core.retrieval import SearchIndex
from rag_rerank.service.errors import install_error_handlers
from rag_rerank.service.guards import RequestGuardMiddleware
from rag_rerank.service.metrics import ServiceMetrics
from rag_rerank.service.pages import install_pages
from rag_rerank.service.priority import keep_favouring_event_loop
from rag_rerank.service.routes import router
from rag_rerank.service.services import Services, build_cache
from rag_rerank.service.wiring import build_reranker, open_index, retriever_for
from rag_rerank.settings import AppSettings

__all__ = ["create_app"]

logger = logging.getLogger("app")
_UNSET: Any = object()


class RequestMetricsMiddleware:
    """Latency per route, method and status (a plain ASGI middleware: it leaves ``receive``
    alone, so handlers can notice a client that disconnects)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            route = scope.get("route")
            self.metrics.request_seconds.labels(
                route=getattr(route, "path", "unmatched"), method=scope.get("method", ""), status=str(status)
            ).observe(time.perf_counter() - started)


def _open_index(settings: AppSettings) -> SearchIndex:
    from rag_core.demo import ensure_demo_index

    index = open_index(settings)
    if settings.index_name == "demo":
        ensure_demo_index(index)
    return index


def create_app(
    settings: AppSettings | None = None,
    *,
    reranker: BaseReranker | None = _UNSET,
    index: SearchIndex | None = _UNSET,
) -> FastAPI:
    """Build the app. ``reranker`` and ``index`` default to what ``settings`` describe (loaded
    at start-up); pass objects to serve those instead."""
    settings = settings or AppSettings()
    metrics = ServiceMetrics()
    services = Services(settings=settings, metrics=metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if reranker is _UNSET:
            try:
                services.reranker = await asyncio.to_thread(build_reranker, settings)
            except Exception as exc:
                services.reranker_error = f"{type(exc).__name__}: {exc}"
                logger.error("reranker could not be loaded: %s", services.reranker_error)
        else:
            services.reranker = reranker
        if settings.reranker_multilingual_model and services.reranker is not None:
            try:
                services.multilingual = await asyncio.to_thread(
                    build_reranker,
                    settings.model_copy(
                        update={
                            "reranker_model": settings.reranker_multilingual_model,
                            "reranker_fallback_model": None,
                        }
                    ),
                )
            except Exception as exc:  # the main reranker still serves; say why the second is missing
                logger.error("RERANKER_MULTILINGUAL_MODEL could not be loaded: %s: %s", type(exc).__name__, exc)
        if index is _UNSET:
            try:
                services.index = await asyncio.to_thread(_open_index, settings)
            except Exception as exc:
                services.index_error = f"{type(exc).__name__}: {exc}"
                logger.error("index could not be opened: %s", services.index_error)
        else:
            services.index = index
        reuse = getattr(services.reranker, "reuse_vectors_from", None)
        if reuse is not None and services.index is not None and reuse(services.index.vectors):
            logger.info("the reranker's bi-encoder reuses the index's document vectors")
        if services.index is not None:
            services.retriever = retriever_for(settings, services.index)
            await asyncio.to_thread(services.index.warm_up)
        services.cache = build_cache(settings)
        favouring = asyncio.create_task(keep_favouring_event_loop(settings.engine_nice))
        metrics.reranker_ready.set(1 if services.reranker is not None else 0)
        metrics.reranker_fallback.set(1 if services.reranker is not None and services.reranker.fallback_from else 0)
        info = services.reranker_info()
        logger.info(
            "serving: reranker=%s index=%s passages cache=%s",
            info and info.get("model"),
            len(services.index) if services.index else 0,
            services.cache and services.cache.backend,
        )
        yield
        favouring.cancel()
        if services.cache is not None:
            await services.cache.close()
        if reranker is _UNSET and services.reranker is not None:
            services.reranker.close()
        if services.multilingual is not None:
            services.multilingual.close()

    app = FastAPI(
        title="rag-rerank",
        version="0.1.0",
        summary="Two-stage retrieval: hybrid recall and cross-encoder reranking.",
        description="A playground is at [/](/). Rerank endpoints speak Cohere's (`/v1/rerank`, `/v2/rerank`), "
        "Jina's (`usage`) and Hugging Face TEI's (`/rerank`, `/info`) shapes.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.include_router(router)
    install_pages(app)

    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    install_error_handlers(app)
    metrics.queue_tokens.set_function(lambda: float(getattr(services.reranker, "pending_cost", 0) or 0))
    app.add_middleware(
        RequestGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.http_body_timeout_s,
        max_headers=settings.http_max_headers,
        max_header_bytes=settings.http_max_header_bytes,
    )
    return app
