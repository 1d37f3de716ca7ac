"""The endpoints."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.ab import CONTROL, assign_variant
from app.dependencies import get_reranker, get_services, require_api_key
from app.schemas import (
    CohereRerankRequest,
    CohereRerankResponse,
    CohereResult,
    QueryDocument,
    QueryRequest,
    QueryResponse,
    RerankStatus,
    Timings,
)
from app.services import Services, rerank_with_cache
from rag_core import Document
from rag_core.rerankers import BaseReranker

__all__ = ["router"]

logger = logging.getLogger("app")
router = APIRouter()


def _check_documents(services: Services, texts: list[str]) -> None:
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


def _check_query(query: str) -> str:
    if not query.strip():
        raise HTTPException(422, "query must not be empty")
    return query


@router.post(
    "/query",
    response_model=QueryResponse,
    dependencies=[Depends(require_api_key)],
    summary="Retrieve candidates, then rerank them",
)
async def query_endpoint(
    request: QueryRequest,
    services: Services = Depends(get_services),
    reranker: BaseReranker | None = Depends(get_reranker),
) -> QueryResponse:
    """The spec's pipeline: hybrid retrieval (top_k candidates), then the cross-encoder (top_n).

    Reranking fails open: if the reranker raises, the retrieval order is returned with
    ``rerank_status: failed``.
    """
    started = time.perf_counter()
    settings = services.settings
    query = _check_query(request.query)
    if services.retriever is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"no index is open: {services.index_error}")
    top_k = request.top_k or settings.vector_top_k
    top_n = request.top_n or settings.reranker_top_n
    t0 = time.perf_counter()
    candidates = await services.retriever.retrieve(query, top_k=top_k)
    retrieval_ms = (time.perf_counter() - t0) * 1000
    services.metrics.retrieval_seconds.observe(retrieval_ms / 1000)
    variant = assign_variant(settings.reranker_ab_ratio, request.user_id or request.session_id)
    rerank_status: RerankStatus
    rerank_ms = 0.0
    error: str | None = None
    final: list[Document]
    if reranker is None and services.reranker_error is None:
        rerank_status, final = "disabled", candidates[:top_n]
    elif variant == CONTROL:
        rerank_status, final = "skipped", candidates[:top_n]
    elif not candidates:
        rerank_status, final = "ok", []
    else:
        try:
            outcome = await rerank_with_cache(services, query, candidates, top_n)
            rerank_status, final, rerank_ms = outcome.status, outcome.documents, outcome.elapsed_ms
        except Exception as exc:
            services.metrics.failures.labels(route="/query").inc()
            error = f"{type(exc).__name__}: {exc}"
            logger.error("reranking failed, returning the retrieval order: %s", error)
            rerank_status, final = "failed", candidates[:top_n]
    services.metrics.requests.labels(variant=variant, status=rerank_status).inc()
    logger.info(
        "query variant=%s status=%s candidates=%d returned=%d", variant, rerank_status, len(candidates), len(final)
    )
    retrieval_rank = {d.key: n for n, d in enumerate(candidates, start=1)}
    documents = [
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
    return QueryResponse(
        query=query,
        documents=documents,
        rerank_status=rerank_status,
        variant=variant,
        retriever=services.retriever.mode,
        reranker=services.reranker_info(),
        timings=Timings(
            retrieval_ms=retrieval_ms, rerank_ms=rerank_ms, total_ms=(time.perf_counter() - started) * 1000
        ),
        error=error,
    )


@router.post(
    "/v1/rerank",
    response_model=CohereRerankResponse,
    response_model_exclude_none=True,
    dependencies=[Depends(require_api_key)],
    summary="Rerank documents (Cohere-compatible)",
)
@router.post(
    "/v2/rerank",
    response_model=CohereRerankResponse,
    response_model_exclude_none=True,
    dependencies=[Depends(require_api_key)],
    include_in_schema=False,
)
async def cohere_rerank(request: CohereRerankRequest, services: Services = Depends(get_services)) -> Any:
    """Cohere's rerank API: a stock Cohere client pointed at this server works unchanged.

    ``relevance_score`` is the sigmoid of the cross-encoder logit. Answers 503 when the
    reranker is unavailable or fails.
    """
    query = _check_query(request.query)
    texts = [d if isinstance(d, str) else d.text for d in request.documents]
    _check_documents(services, texts)
    if services.reranker is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"reranker unavailable: {services.reranker_error or 'RERANKER_ENABLED=false'}",
        )
    docs = [Document(text, {"index": i}) for i, text in enumerate(texts)]
    top_n = min(request.top_n or len(docs), len(docs))
    try:
        outcome = await rerank_with_cache(services, query, docs, top_n)
    except Exception as exc:
        services.metrics.failures.labels(route="/v1/rerank").inc()
        logger.error("rerank failed: %s: %s", type(exc).__name__, exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"reranking failed: {type(exc).__name__}") from exc
    results = []
    for doc in outcome.documents:
        index = int(doc.metadata["original_rank"]) - 1
        original = request.documents[index]
        document = None
        if request.return_documents:
            document = {"text": original} if isinstance(original, str) else original.model_dump()
        results.append(CohereResult(index=index, relevance_score=float(doc.score or 0.0), document=document))
    reranker = services.reranker
    return CohereRerankResponse(
        id=str(uuid.uuid4()),
        results=results,
        meta={
            "api_version": {"version": "1"},
            "billed_units": {"search_units": 1},
            "model": reranker.model_name,
            "requested_model": request.model,
            "cache": outcome.cache,
            "rerank_ms": outcome.elapsed_ms,
        },
    )


@router.get("/health", summary="Liveness, and what is loaded")
async def health(services: Services = Depends(get_services)) -> dict[str, Any]:
    return {
        "status": "ok",
        "reranker": services.reranker_info(),
        "reranker_enabled": services.settings.reranker_enabled,
        "reranker_error": services.reranker_error,
        "index": {"name": services.settings.index_name, "passages": len(services.index) if services.index else 0},
        "cache": services.cache.describe() if services.cache else None,
        "uptime_s": time.time() - services.started,
    }


@router.get("/ready", summary="Readiness: model loaded, index open, cache reachable or bypassed")
async def ready(response: Response, services: Services = Depends(get_services)) -> dict[str, Any]:
    reranker_ok = services.reranker is not None or not services.settings.reranker_enabled
    index_ok = services.retriever is not None
    cache_ok = True
    if services.cache is not None:
        try:
            cache_ok = await asyncio.wait_for(services.cache.ping(), timeout=1.0)
        except TimeoutError:
            cache_ok = False
    checks = {
        "reranker": "ok" if reranker_ok else f"unavailable: {services.reranker_error}",
        "index": "ok" if index_ok else f"unavailable: {services.index_error}",
        # a dead cache is bypassed, so it does not make the service unready
        "cache": "ok" if cache_ok else "unreachable (bypassed)",
    }
    is_ready = reranker_ok and index_ok
    if not is_ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"ready": is_ready, "checks": checks}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: Services = Depends(get_services)) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
