"""The endpoints."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rag_core import __version__
from rag_core.rerankers import BaseReranker
from rag_rerank.service.dependencies import get_reranker, get_services, require_api_key
from rag_rerank.service.errors import StrictJSONRoute
from rag_rerank.service.pipeline import rerank_texts, run_query
from rag_rerank.service.schemas import (
    CohereRerankRequest,
    CohereRerankResponse,
    CohereResult,
    QueryRequest,
    QueryResponse,
    TeiRerankRequest,
    TeiRerankResult,
)
from rag_rerank.service.services import Services

__all__ = ["router"]

logger = logging.getLogger("app")
router = APIRouter(route_class=StrictJSONRoute)


@router.post(
    "/query",
    response_model=QueryResponse,
    dependencies=[Depends(require_api_key)],
    summary="Retrieve candidates, then rerank them",
)
async def query_endpoint(
    body: QueryRequest,
    request: Request,
    response: Response,
    services: Services = Depends(get_services),
    reranker: BaseReranker | None = Depends(get_reranker),
) -> QueryResponse:
    """The spec's pipeline: hybrid retrieval (top_k candidates), then the cross-encoder (top_n).

    Reranking fails open: if the reranker raises (``failed``), is overloaded (``overloaded``,
    with a ``Retry-After`` header) or misses ``RERANKER_TIMEOUT_S`` (``timeout``), the retrieval
    order is returned with that ``rerank_status``.
    """
    result, stage = await run_query(services, request, body, reranker)
    if stage.retry_after_s is not None:
        response.headers["Retry-After"] = str(max(1, round(stage.retry_after_s)))
    return result


@router.post(
    "/v1/rerank",
    response_model=CohereRerankResponse,
    response_model_exclude_none=True,
    dependencies=[Depends(require_api_key)],
    summary="Rerank documents (Cohere-compatible)",
    operation_id="rerank_v1",
)
@router.post(
    "/v2/rerank",
    response_model=CohereRerankResponse,
    response_model_exclude_none=True,
    dependencies=[Depends(require_api_key)],
    summary="Rerank documents (Cohere v2 path; same request and response)",
    operation_id="rerank_v2",
)
async def cohere_rerank(body: CohereRerankRequest, request: Request, services: Services = Depends(get_services)) -> Any:
    """Cohere's rerank API: a stock Cohere client pointed at this server works unchanged.

    ``relevance_score`` is the sigmoid of the cross-encoder logit; ``usage.total_tokens`` (Jina's
    field) counts the tokens scored. Answers 503 (with ``Retry-After``) when the reranker is
    unavailable, fails or is overloaded, 504 when scoring misses ``RERANKER_TIMEOUT_S``, 413 when
    the request is over ``RERANKER_MAX_REQUEST_TOKENS``.
    """
    texts = [d if isinstance(d, str) else d.text for d in body.documents]
    outcome, tokens = await rerank_texts(services, request, body.query, texts, request.url.path, body.instruction)
    top_n = min(body.top_n or len(texts), len(texts))
    results = []
    for doc in outcome.documents[:top_n]:
        index = int(doc.metadata["original_rank"]) - 1
        original = body.documents[index]
        document = None
        if body.return_documents:
            document = {"text": original} if isinstance(original, str) else original.model_dump()
        results.append(CohereResult(index=index, relevance_score=float(doc.score or 0.0), document=document))
    reranker = services.reranker
    model = reranker.model_name if reranker is not None else None
    return CohereRerankResponse(
        id=str(uuid.uuid4()),
        model=model,
        results=results,
        usage={"total_tokens": tokens, "prompt_tokens": tokens},
        meta={
            "api_version": {"version": "1"},
            "billed_units": {"search_units": 1},
            "model": model,
            "engine": reranker.engine_name if reranker is not None else None,
            "fallback_from": reranker.fallback_from if reranker is not None else None,
            "instruction": outcome.instruction,
            "instruction_used": outcome.instruction is not None,
            "language_warning": outcome.language_warning,
            "scored_by": outcome.model,
            "requested_model": body.model,
            "cache": outcome.cache,
            "rerank_ms": outcome.elapsed_ms,
        },
    )


@router.post(
    "/rerank",
    response_model=list[TeiRerankResult],
    response_model_exclude_none=True,
    dependencies=[Depends(require_api_key)],
    summary="Rerank texts (Hugging Face TEI-compatible)",
    operation_id="rerank_tei",
)
async def tei_rerank(
    body: TeiRerankRequest, request: Request, response: Response, services: Services = Depends(get_services)
) -> Any:
    """Text Embeddings Inference's ``/rerank``: every text with its score, best first. ``score``
    is the sigmoid of the logit, or the logit itself with ``raw_scores``. Long texts are scored
    in windows (best window) whatever ``truncate`` says; errors carry TEI's ``error`` and
    ``error_type`` fields besides ours."""
    outcome, _ = await rerank_texts(services, request, body.query, body.texts, request.url.path, body.instruction)
    response.headers["X-Instruction-Used"] = "true" if outcome.instruction is not None else "false"
    results = []
    for doc in outcome.documents:
        index = int(doc.metadata["original_rank"]) - 1
        score = float(doc.metadata.get("rerank_raw_score", 0.0)) if body.raw_scores else float(doc.score or 0.0)
        results.append(TeiRerankResult(index=index, score=score, text=body.texts[index] if body.return_text else None))
    return results


@router.get("/info", summary="Model information (TEI-compatible)", operation_id="info_tei")
async def tei_info(services: Services = Depends(get_services)) -> dict[str, Any]:
    """What TEI's ``/info`` says, so that TEI clients accept this server as a reranker."""
    reranker = services.reranker
    engine = reranker.describe().get("engine_details", {}) if reranker is not None else {}
    limits = services.settings
    return {
        "model_id": reranker.model_name if reranker is not None else None,
        "model_sha": None,
        "model_dtype": engine.get("dtype", "float32"),
        "model_type": {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}},
        "max_concurrent_requests": limits.http_max_connections,
        "max_input_length": engine.get("max_length", 512),
        "max_batch_tokens": limits.reranker_max_request_tokens,
        "max_batch_requests": None,
        "max_client_batch_size": limits.reranker_max_documents,
        "auto_truncate": True,
        "tokenization_workers": 1,
        "version": f"rag-rerank {__version__}",
        "sha": None,
        "docker_label": None,
    }


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
        "process": _process_info(),
        "limits": _limits(services.settings),
    }


@router.get("/ready", summary="Readiness: model loaded, index open, cache reachable or bypassed")
async def ready(response: Response, services: Services = Depends(get_services)) -> dict[str, Any]:
    reranker_ok = services.reranker is not None or not services.settings.reranker_enabled
    reranker_state = None if services.reranker is None else await services.reranker.readiness()
    reranker_ok = reranker_ok and reranker_state is None
    index_ok = services.retriever is not None
    cache_ok = True
    if services.cache is not None:
        try:
            cache_ok = await asyncio.wait_for(services.cache.ping(), timeout=1.0)
        except TimeoutError:
            cache_ok = False
    checks = {
        "reranker": "ok"
        if reranker_ok
        else f"not ready: {reranker_state}"
        if reranker_state
        else f"unavailable: {services.reranker_error}",
        "index": "ok" if index_ok else f"unavailable: {services.index_error}",
        # a dead cache is bypassed, so it does not make the service unready
        "cache": "ok" if cache_ok else "unreachable (bypassed)",
    }
    is_ready = reranker_ok and index_ok
    if not is_ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"ready": is_ready, "checks": checks}


@router.get(
    "/source", summary="An indexed file, for the playground's source links", dependencies=[Depends(require_api_key)]
)
async def source_file(path: str, services: Services = Depends(get_services)) -> Any:
    """Serves a file the index was built from (only those: the path must be one of the index's
    recorded sources, so nothing else on the disk can be read through it)."""
    from pathlib import Path

    from fastapi import HTTPException
    from fastapi.responses import FileResponse

    index = services.index
    if index is None or path not in index.files or not Path(path).is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not a file of this index")
    return FileResponse(path, filename=Path(path).name, content_disposition_type="inline")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: Services = Depends(get_services)) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _process_info() -> dict[str, Any]:
    import psutil

    process = psutil.Process()
    return {"pid": process.pid, "rss_mb": round(process.memory_info().rss / 2**20, 1), "threads": process.num_threads()}


def _limits(settings: Any) -> dict[str, Any]:
    """The request limits in force, so that clients (and ``rag-rerank drill``) can size requests."""
    names = (
        "reranker_max_documents",
        "reranker_max_document_chars",
        "reranker_max_request_tokens",
        "reranker_max_queue_tokens",
        "reranker_max_windows",
        "reranker_timeout_s",
        "max_body_bytes",
        "http_max_header_bytes",
        "http_max_headers",
        "http_body_timeout_s",
    )
    return {name: getattr(settings, name) for name in names}
