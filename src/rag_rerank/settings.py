"""``AppSettings``: every setting, read from the environment and ``.env`` (pydantic-settings).

Names map to upper-case environment variables (``reranker_top_n`` ↔ ``RERANKER_TOP_N``).
Invalid values (a zero batch size, an unknown backend, ...) fail at start with a message that
names the variable. Settings are values only: what they build (the index, the expander, the
reranker) is wired in :mod:`rag_rerank.service.wiring`.
"""

from __future__ import annotations

import types
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AppSettings", "get_settings"]

Positive = Annotated[int, Field(gt=0)]


def _allows_none(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


class AppSettings(BaseSettings):
    """All settings with their defaults; see ``.env.example`` for one line on each."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=False,  # an empty value means "unset" (see _empty_means_default)
        populate_by_name=True,
        validate_default=True,
    )

    # -- reranker (the spec's settings) --------------------------------------------------------
    reranker_enabled: bool = True
    reranker_type: str = "cross_encoder"
    reranker_model: str = "cross-encoder/ms-marco-MiniLM-L-6-v2"
    reranker_top_n: Positive = 5
    reranker_batch_size: Positive = 32
    # -- reranker engine ----------------------------------------------------------------------
    reranker_backend: Literal["auto", "torch", "onnx"] = "auto"
    reranker_quantize: Literal["auto", "none", "int8"] = "auto"
    reranker_device: str | None = None
    reranker_precision: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    reranker_max_length: Positive | None = None
    reranker_max_batch_tokens: Positive = 8192
    reranker_long_documents: Literal["chunk", "truncate"] = "chunk"
    reranker_threads: Positive | None = None
    reranker_microbatch_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 2.0
    reranker_fallback_model: str | None = "builtin:offline-default"
    reranker_multilingual_model: str | None = None
    reranker_url: str | None = None
    reranker_api_key: SecretStr | None = None
    reranker_retries: Annotated[int, Field(ge=0, le=10)] = 2
    reranker_max_windows: Positive = 8
    reranker_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    reranker_max_queue_tokens: Positive = 200_000
    reranker_max_queue_wait_s: Annotated[float, Field(ge=0, le=3600)] = 2.0
    reranker_score_cache_size: Annotated[int, Field(ge=0)] = 50_000
    reranker_max_request_tokens: Positive = 100_000
    reranker_fusion: Literal["auto", "none", "rrf", "interpolate"] = "auto"
    reranker_fusion_weight: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    reranker_instruction: str | None = None
    reranker_template: str | None = None
    # -- service limits, cache, A/B -------------------------------------------------------------
    reranker_max_documents: Positive = 1000
    reranker_max_document_chars: Positive = 200_000
    reranker_cache_enabled: bool = True
    reranker_cache_ttl: Positive = 3600
    reranker_cache_size: Positive = 10_000
    reranker_cache_url: str | None = Field(
        default=None, validation_alias=AliasChoices("reranker_cache_url", "redis_url")
    )
    reranker_ab_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    # -- retrieval -----------------------------------------------------------------------------
    retriever_type: Literal["hybrid", "bm25", "vector"] = "hybrid"
    vector_top_k: Positive = 20
    retrieval_depth: Positive = 100
    rrf_k: Positive = 60
    query_expansion: Literal["none", "rm3", "rocchio", "prf"] = "none"
    query_expansion_feedback_docs: Positive = 10
    query_expansion_terms: Positive = 10
    query_expansion_original_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    embedding_model: str = "auto"
    chunk_tokens: Annotated[int, Field(ge=16, le=8192)] = 256
    chunk_overlap_tokens: Annotated[int, Field(ge=0, le=1024)] = 32
    embedding_batch_size: Positive = 64
    # -- storage and service -----------------------------------------------------------------
    rag_rerank_home: Path = Path(".rag-rerank")
    index_name: str = "demo"
    index_uri: str | None = None
    milvus_token: SecretStr | None = None
    milvus_collection: str | None = None
    host: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536)] = 8000
    api_key: SecretStr | None = None
    max_body_bytes: Positive = 10_000_000
    http_max_header_bytes: Annotated[int, Field(ge=1024)] = 65_536
    http_max_headers: Positive = 100
    http_body_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    http_keepalive_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    http_max_connections: Positive = 512
    engine_nice: Annotated[int, Field(ge=0, le=19)] = 10
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("*", mode="before")
    @classmethod
    def _empty_means_default(cls, value: Any, info: ValidationInfo) -> Any:
        """``NAME=`` (empty) means "not set": None where the setting allows it, else its default.
        ``RERANKER_FALLBACK_MODEL=`` (or ``none``) therefore disables the fallback."""
        if not isinstance(value, str) or info.field_name is None:
            return value
        field = cls.model_fields[info.field_name]
        if info.field_name == "reranker_fallback_model" and value.strip().lower() in ("", "none", "off", "false"):
            return None
        if value.strip() == "":
            return None if _allows_none(field.annotation) else field.default
        return value

    @field_validator("reranker_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from rag_core.rerankers import known_types

        value = value.strip().lower()
        if value not in known_types():
            raise ValueError(f"unknown reranker type {value!r}; known types: {', '.join(known_types())}")
        return value

    @field_validator("reranker_model", "embedding_model", "index_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @property
    def index_dir(self) -> Path:
        return self.rag_rerank_home / "indexes" / self.index_name

    @field_validator("index_uri")
    @classmethod
    def _index_uri(cls, value: str | None) -> str | None:
        if value and not value.startswith(("milvus:///", "http://", "https://")):
            raise ValueError("must be empty (embedded index), milvus:///abs/path/data.db or http(s)://host:port")
        return value


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    """The process-wide settings, read once."""
    return AppSettings()
