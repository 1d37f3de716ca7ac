"""Request and response bodies (with OpenAPI examples)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "COHERE_RERANK_EXAMPLE",
    "CohereDocument",
    "CohereRerankRequest",
    "CohereRerankResponse",
    "CohereResult",
    "QueryDocument",
    "QueryRequest",
    "QueryResponse",
    "RerankStatus",
]

RerankStatus = Literal["ok", "cached", "disabled", "skipped", "failed"]


class QueryRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"query": "How do I catch an exception and clean up afterwards?", "top_k": 20, "top_n": 5}]
        },
    )

    query: str = Field(min_length=1, max_length=10_000, description="The user's question.")
    top_k: int | None = Field(default=None, ge=1, le=1000, description="Candidates to retrieve (VECTOR_TOP_K).")
    top_n: int | None = Field(default=None, ge=1, le=1000, description="Documents to return (RERANKER_TOP_N).")
    user_id: str | None = Field(default=None, max_length=256, description="Stable A/B assignment key.")
    session_id: str | None = Field(default=None, max_length=256, description="A/B key when there is no user id.")


class QueryDocument(BaseModel):
    id: str | None
    text: str
    metadata: dict[str, Any]
    retrieval_score: float | None = Field(description="Fused (RRF) score of the first stage.")
    retrieval_rank: int = Field(description="1-based rank after retrieval.")
    rerank_score: float | None = Field(default=None, description="Sigmoid of the cross-encoder logit.")
    rerank_rank: int | None = None


class Timings(BaseModel):
    retrieval_ms: float
    rerank_ms: float
    total_ms: float


class QueryResponse(BaseModel):
    query: str
    documents: list[QueryDocument]
    rerank_status: RerankStatus = Field(
        description="ok: reranked; cached: reranking served from the cache; disabled: RERANKER_ENABLED=false; "
        "skipped: A/B control group; failed: the reranker raised, retrieval order returned (fail-open)."
    )
    variant: str
    retriever: str
    reranker: dict[str, Any] | None
    timings: Timings
    error: str | None = None


class CohereDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str


#: The request from Cohere's documentation; also the ``curl`` example that ``serve`` prints.
COHERE_RERANK_EXAMPLE: dict[str, Any] = {
    "model": "rerank-english-v3.0",
    "query": "What is the capital of the United States?",
    "documents": [
        "Carson City is the capital city of Nevada.",
        "Washington, D.C. is the capital of the United States.",
    ],
    "top_n": 1,
    "return_documents": True,
}


class CohereRerankRequest(BaseModel):
    """The request of Cohere's ``/v1/rerank`` (and ``/v2/rerank``)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [COHERE_RERANK_EXAMPLE]},
    )

    model: str | None = Field(default=None, description="Accepted for compatibility; the served model is used.")
    query: str = Field(min_length=1, max_length=10_000)
    documents: list[str | CohereDocument]
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool | None = False
    rank_fields: list[str] | None = None
    max_chunks_per_doc: int | None = None
    max_tokens_per_doc: int | None = None


class CohereResult(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class CohereRerankResponse(BaseModel):
    id: str
    results: list[CohereResult]
    meta: dict[str, Any]
