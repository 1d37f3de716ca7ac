"""Request and response bodies (with OpenAPI examples)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

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
    "TeiRerankRequest",
    "TeiRerankResult",
]

RerankStatus = Literal["ok", "cached", "disabled", "skipped", "failed", "overloaded", "timeout"]


def _lone_surrogate(text: str) -> int | None:
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _unicode(text: str) -> str:
    """Reject strings that are not valid Unicode (a lone UTF-16 surrogate such as "\\udfff" is
    legal JSON but cannot be encoded as UTF-8); the message never repeats the input."""
    where = _lone_surrogate(text)
    if where is not None:
        raise ValueError(f"contains a lone UTF-16 surrogate at character {where}: not valid Unicode text")
    return text


def _check_json_strings(value: Any, depth: int = 0) -> None:
    """Every string (keys too) in a JSON value is valid Unicode; nesting is bounded."""
    if depth > 32:
        raise ValueError("nested more than 32 levels deep")
    if isinstance(value, str):
        _unicode(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _unicode(str(key))
            _check_json_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_strings(item, depth + 1)


#: A JSON string that is valid Unicode.
Text = Annotated[StrictStr, AfterValidator(_unicode)]


class QueryRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"query": "How do I catch an exception and clean up afterwards?", "top_k": 20, "top_n": 5}]
        },
    )

    query: Text = Field(min_length=1, max_length=10_000, description="The user's question.")
    top_k: StrictInt | None = Field(default=None, ge=1, le=1000, description="Candidates to retrieve (VECTOR_TOP_K).")
    top_n: StrictInt | None = Field(default=None, ge=1, le=1000, description="Documents to return (RERANKER_TOP_N).")
    user_id: Text | None = Field(default=None, max_length=256, description="Stable A/B assignment key.")
    session_id: Text | None = Field(default=None, max_length=256, description="A/B key when there is no user id.")
    return_candidates: StrictBool = Field(
        default=False, description="Also return every retrieved candidate in retrieval order (the playground does)."
    )
    instruction: Text | None = Field(
        default=None,
        max_length=2000,
        description="Task description for models that read one (LLM rerankers); others ignore it. Default: "
        "RERANKER_INSTRUCTION, else the model card's.",
    )


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
        "skipped: A/B control group; failed: the reranker raised, retrieval order returned (fail-open); "
        "overloaded: the reranker's queue was full, retrieval order returned at once; timeout: reranking missed "
        "RERANKER_TIMEOUT_S, retrieval order returned."
    )
    variant: str
    retriever: str
    reranker: dict[str, Any] | None
    timings: Timings
    error: str | None = None
    candidates: list[QueryDocument] | None = Field(
        default=None, description="With return_candidates: all top_k candidates in retrieval order."
    )
    query_expansion: dict[str, Any] | None = Field(
        default=None,
        description="What QUERY_EXPANSION did before retrieval (expander, added terms, ms; error when it failed and "
        "the original query was used). The reranker always scores the original query.",
    )
    instruction: str | None = Field(
        default=None, description="The instruction the reranker's model read; null when it reads none."
    )
    language_warning: str | None = Field(
        default=None,
        description="Set when the reranker's model card says it does not read the query's (or passages') script; "
        "with RERANKER_MULTILINGUAL_MODEL configured, that model scored the request instead.",
    )


class CohereDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: Text

    @model_validator(mode="after")
    def _valid_extra_fields(self) -> CohereDocument:
        _check_json_strings(self.model_extra or {})
        return self


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

    model: Text | None = Field(default=None, description="Accepted for compatibility; the served model is used.")
    query: Text = Field(min_length=1, max_length=10_000)
    documents: list[Text | CohereDocument]
    top_n: StrictInt | None = Field(default=None, ge=1)
    return_documents: StrictBool | None = False
    rank_fields: list[Text] | None = None
    max_chunks_per_doc: StrictInt | None = Field(default=None, ge=1)
    max_tokens_per_doc: StrictInt | None = Field(default=None, ge=1)
    instruction: Text | None = Field(
        default=None,
        max_length=2000,
        description="Task description for models that read one (LLM rerankers); others ignore it. Default: "
        "RERANKER_INSTRUCTION, else the model card's.",
    )


class CohereResult(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class CohereRerankResponse(BaseModel):
    id: str
    model: str | None = None
    results: list[CohereResult]
    usage: dict[str, int] | None = Field(default=None, description="Tokens scored (Jina's usage field).")
    meta: dict[str, Any]


class TeiRerankRequest(BaseModel):
    """Hugging Face Text Embeddings Inference's ``POST /rerank`` request."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"query": "What is Deep Learning?", "texts": ["Deep Learning is...", "Cheese is..."]}]
        },
    )

    query: Text = Field(min_length=1, max_length=10_000)
    texts: list[Text]
    raw_scores: StrictBool = False
    return_text: StrictBool = False
    truncate: StrictBool | None = None
    truncation_direction: Literal["Left", "Right", "left", "right"] | None = None
    instruction: Text | None = Field(
        default=None,
        max_length=2000,
        description="Task description for models that read one (LLM rerankers); others ignore it. Default: "
        "RERANKER_INSTRUCTION, else the model card's.",
    )


class TeiRerankResult(BaseModel):
    index: int
    score: float
    text: str | None = None
