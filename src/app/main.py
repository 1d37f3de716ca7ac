"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import ServiceMetrics
from app.routes import router
from app.services import Services, build_cache
from rag_core.rerankers import BaseReranker, BiEncoderReranker, RerankerFactory
from rag_core.retrieval import DocumentIndex
from shared_config.settings import AppSettings

__all__ = ["create_app"]

logger = logging.getLogger("app")
_UNSET: Any = object()


class BodyLimitMiddleware:
    """413 for request bodies over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": f"request body over {self.limit} bytes (MAX_BODY_BYTES)"}, status_code=413)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def _open_index(settings: AppSettings) -> DocumentIndex:
    from rag_core.demo import ensure_demo_index
    from rag_core.embeddings import load_embedder

    index = DocumentIndex.open(settings.index_dir, load_embedder(settings.embedding_model))
    if settings.index_name == "demo":
        ensure_demo_index(index)
    return index


def create_app(
    settings: AppSettings | None = None,
    *,
    reranker: BaseReranker | None = _UNSET,
    index: DocumentIndex | None = _UNSET,
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
                services.reranker = await RerankerFactory.create_from_settings(settings)
            except Exception as exc:
                services.reranker_error = f"{type(exc).__name__}: {exc}"
                logger.error("reranker could not be loaded: %s", services.reranker_error)
        else:
            services.reranker = reranker
        if index is _UNSET:
            try:
                services.index = await asyncio.to_thread(_open_index, settings)
            except Exception as exc:
                services.index_error = f"{type(exc).__name__}: {exc}"
                logger.error("index could not be opened: %s", services.index_error)
        else:
            services.index = index
        reuse = services.index is not None and isinstance(services.reranker, BiEncoderReranker)
        if reuse and services.reranker.reuse_vectors_from(services.index.vectors):  # type: ignore[union-attr]
            logger.info("bi-encoder reranker reuses the index's document vectors")
        if services.index is not None:
            services.retriever = services.index.retriever(
                mode=settings.retriever_type,
                top_k=settings.vector_top_k,
                depth=settings.retrieval_depth,
                rrf_k=settings.rrf_k,
            )
            await asyncio.to_thread(services.index.bm25.search, "warm up", 1)
        services.cache = build_cache(settings)
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
        if services.cache is not None:
            await services.cache.close()
        if reranker is _UNSET and services.reranker is not None:
            services.reranker.close()

    app = FastAPI(
        title="rag-rerank",
        version="0.1.0",
        summary="Two-stage retrieval: hybrid recall and cross-encoder reranking.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.include_router(router)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.request_seconds.labels(route=path, method=request.method, status=str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    return app
