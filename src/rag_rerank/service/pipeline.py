"""The steps the endpoints share: validation of limits, guarded reranking, the /query pipeline.

Reranking is guarded four ways: a request whose estimated cost is over
``RERANKER_MAX_REQUEST_TOKENS`` is refused (413); a busy reranker refuses at once
(:class:`~rag_core.OverloadedError`: a full queue, or a wait over ``RERANKER_MAX_QUEUE_WAIT_S``);
scoring has a deadline (``RERANKER_TIMEOUT_S``); and a client that disconnects cancels its queued
work. ``/query`` turns an overload, a missed deadline and a failure into ``rerank_status`` values
(fail-open to the retrieval order), ``/v1/rerank`` into 503/504; a disconnect is re-raised as
:class:`ClientDisconnectedError` (nobody is left to answer; the access log records a 499).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import HTTPException, Request, status

from rag_core import DeadlineExceededError, Document, OverloadedError
from rag_core.rerankers import BaseReranker
from rag_rerank.service.ab import CONTROL, assign_variant
from rag_rerank.service.errors import ClientDisconnectedError
from rag_rerank.service.schemas import QueryDocument, QueryRequest, QueryResponse, RerankStatus, Timings
from rag_rerank.service.services import RerankOutcome, Services, rerank_with_cache

__all__ = [
    "ClientDisconnectedError",
    "RerankStage",
    "check_documents",
    "check_query",
    "check_request_cost",
    "guarded_rerank",
    "rerank_texts",
    "run_query",
]

logger = logging.getLogger("app")
T = TypeVar("T")


def check_query(query: str) -> str:
    if not query.strip():
        raise HTTPException(422, "query must not be empty")
    return query


def check_documents(services: Services, texts: list[str]) -> None:
    settings = services.settings
    if not texts:
        raise HTTPException(422, "documents must not be empty")
    if len(texts) > settings.reranker_max_documents:
        raise HTTPException(
            422,
            f"{len(texts)} documents exceed RERANKER_MAX_DOCUMENTS={settings.reranker_max_documents}",
        )
    for i, text in enumerate(texts):
        if len(text) > settings.reranker_max_document_chars:
            raise HTTPException(
                422,
                f"documents[{i}] has {len(text)} characters, over RERANKER_MAX_DOCUMENT_CHARS="
                f"{settings.reranker_max_document_chars}",
            )


def check_request_cost(services: Services, reranker: BaseReranker, query: str, texts: list[str], hint: str) -> None:
    """413 when scoring ``texts`` would cost more tokens than ``RERANKER_MAX_REQUEST_TOKENS``."""
    limit = services.settings.reranker_max_request_tokens
    cost = reranker.estimate_cost(query, texts)
    if cost > limit:
        services.metrics.rejected.labels(reason="too_large").inc()
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"reranking {len(texts)} documents needs about {cost} tokens, over RERANKER_MAX_REQUEST_TOKENS={limit}; "
            f"{hint}",
        )


async def _until_disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body is already read: the server's next
    message can only be ``http.disconnect``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def run_while_connected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; if the client disconnects first, cancel it and raise
    :class:`ClientDisconnectedError` (cancellation takes its pairs out of the reranker's queue)."""
    task: asyncio.Task[T] = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watcher.cancel()
    if task.cancelled() or not task.done():
        raise ClientDisconnectedError
    return task.result()


async def guarded_rerank(
    services: Services,
    request: Request,
    query: str,
    docs: list[Document],
    top_n: int,
    instruction: str | None = None,
) -> RerankOutcome:
    """:func:`rerank_with_cache` under the deadline, cancelled if the client leaves."""
    timeout = services.settings.reranker_timeout_s
    try:
        return await run_while_connected(
            request, rerank_with_cache(services, query, docs, top_n, timeout_s=timeout, instruction=instruction)
        )
    except OverloadedError:
        services.metrics.rejected.labels(reason="overloaded").inc()
        raise
    except DeadlineExceededError:
        services.metrics.rejected.labels(reason="timeout").inc()
        raise
    except ClientDisconnectedError:
        services.metrics.rejected.labels(reason="disconnected").inc()
        logger.info("client disconnected; its reranking was cancelled")
        raise


async def rerank_texts(
    services: Services, request: Request, query: str, texts: list[str], route: str, instruction: str | None = None
) -> tuple[RerankOutcome, int]:
    """The rerank endpoints' common path: validate, refuse what is over the limits, rerank all
    ``texts`` under the guards. Returns the outcome (every document, best first) and the
    request's token count. Raises HTTP 422/413/503, ``OverloadedError`` (503 + Retry-After),
    ``DeadlineExceededError`` (504) or ``ClientDisconnectedError``."""
    query = check_query(query)
    check_documents(services, texts)
    reranker = services.reranker
    if reranker is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"reranker unavailable: {services.reranker_error or 'RERANKER_ENABLED=false'}",
        )
    check_request_cost(services, reranker, query, texts, "send fewer or shorter documents")
    docs = [Document(text, {"index": i}) for i, text in enumerate(texts)]
    try:
        outcome = await guarded_rerank(services, request, query, docs, len(docs), instruction)
    except (OverloadedError, DeadlineExceededError, ClientDisconnectedError):
        raise
    except Exception as exc:
        services.metrics.failures.labels(route=route).inc()
        logger.error("rerank failed: %s: %s", type(exc).__name__, exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"reranking failed: {type(exc).__name__}") from exc
    return outcome, reranker.count_tokens(query, texts)


@dataclass
class RerankStage:
    """What the reranking step of /query produced."""

    status: RerankStatus
    documents: list[Document]
    elapsed_ms: float = 0.0
    error: str | None = None
    retry_after_s: float | None = None
    instruction: str | None = None
    language_warning: str | None = None


async def _rerank_stage(
    services: Services,
    request: Request,
    reranker: BaseReranker | None,
    query: str,
    candidates: list[Document],
    top_n: int,
    variant: str,
    instruction: str | None = None,
) -> RerankStage:
    if reranker is None and services.reranker_error is None:
        return RerankStage("disabled", candidates[:top_n])
    if variant == CONTROL:
        return RerankStage("skipped", candidates[:top_n])
    if not candidates:
        return RerankStage("ok", [])
    if reranker is not None:
        check_request_cost(
            services, reranker, query, [d.page_content for d in candidates], "lower top_k to rerank fewer candidates"
        )
    return await _fail_open(services, request, query, candidates, top_n, instruction)


async def _fail_open(
    services: Services,
    request: Request,
    query: str,
    candidates: list[Document],
    top_n: int,
    instruction: str | None = None,
) -> RerankStage:
    """Rerank; a failure, an overload or a missed deadline returns the retrieval order."""
    fallback = candidates[:top_n]
    try:
        outcome = await guarded_rerank(services, request, query, candidates, top_n, instruction)
    except OverloadedError as exc:
        return RerankStage("overloaded", fallback, error=str(exc), retry_after_s=exc.retry_after_s)
    except DeadlineExceededError as exc:
        return RerankStage("timeout", fallback, error=str(exc))
    except ClientDisconnectedError:
        raise
    except Exception as exc:
        services.metrics.failures.labels(route="/query").inc()
        error = f"{type(exc).__name__}: {exc}"
        logger.error("reranking failed, returning the retrieval order: %s", error)
        return RerankStage("failed", fallback, error=error)
    return RerankStage(
        outcome.status,
        outcome.documents,
        outcome.elapsed_ms,
        instruction=outcome.instruction,
        language_warning=outcome.language_warning,
    )


def _query_documents(candidates: list[Document], final: list[Document]) -> list[QueryDocument]:
    retrieval_rank = {d.key: n for n, d in enumerate(candidates, start=1)}
    return [
        QueryDocument(
            id=d.id,
            text=d.page_content,
            metadata={k: v for k, v in d.metadata.items() if not k.startswith(("rerank_", "original_"))},
            retrieval_score=d.metadata.get("retrieval_score", d.metadata.get("original_score", d.score)),
            retrieval_rank=retrieval_rank.get(d.key, 0),
            rerank_score=d.metadata.get("rerank_score"),
            rerank_rank=d.metadata.get("rerank_rank"),
        )
        for d in final
    ]


async def run_query(
    services: Services, request: Request, body: QueryRequest, reranker: BaseReranker | None
) -> tuple[QueryResponse, RerankStage]:
    """The spec's pipeline: retrieve ``top_k`` candidates, rerank them (A/B, cache, guards),
    and build the response."""
    started = time.perf_counter()
    settings = services.settings
    query = check_query(body.query)
    if services.retriever is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"no index is open: {services.index_error}")
    top_k = body.top_k or settings.vector_top_k
    top_n = body.top_n or settings.reranker_top_n
    t0 = time.perf_counter()
    candidates, expansion = await services.retriever.retrieve_expanded(query, top_k=top_k)
    retrieval_ms = (time.perf_counter() - t0) * 1000
    services.metrics.retrieval_seconds.observe(retrieval_ms / 1000)
    variant = assign_variant(settings.reranker_ab_ratio, body.user_id or body.session_id)
    stage = await _rerank_stage(services, request, reranker, query, candidates, top_n, variant, body.instruction)
    services.metrics.requests.labels(variant=variant, status=stage.status).inc()
    logger.info(
        "query variant=%s status=%s candidates=%d returned=%d",
        variant,
        stage.status,
        len(candidates),
        len(stage.documents),
    )
    response = QueryResponse(
        query=query,
        documents=_query_documents(candidates, stage.documents),
        rerank_status=stage.status,
        variant=variant,
        retriever=services.retriever.mode,
        reranker=services.reranker_info(),
        timings=Timings(
            retrieval_ms=retrieval_ms, rerank_ms=stage.elapsed_ms, total_ms=(time.perf_counter() - started) * 1000
        ),
        error=stage.error,
        candidates=_query_documents(candidates, candidates) if body.return_candidates else None,
        query_expansion=expansion.info or None,
        instruction=stage.instruction,
        language_warning=stage.language_warning,
    )
    return response, stage
