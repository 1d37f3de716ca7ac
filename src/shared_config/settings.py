"""``AppSettings``: every setting, read from the environment and ``.env`` (pydantic-settings).

Names map to upper-case environment variables (``reranker_top_n`` ↔ ``RERANKER_TOP_N``).
Invalid values (a zero batch size, an unknown backend, ...) fail at start with a message that
names the variable.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AppSettings", "get_settings"]

Positive = Annotated[int, Field(gt=0)]


class AppSettings(BaseSettings):
    """All settings with their defaults; see ``.env.example`` for one line on each."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
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
    reranker_quantize: Literal["none", "int8"] = "none"
    reranker_device: str | None = None
    reranker_precision: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    reranker_max_length: Positive | None = None
    reranker_max_batch_tokens: Positive = 8192
    reranker_long_documents: Literal["chunk", "truncate"] = "chunk"
    reranker_threads: Positive | None = None
    reranker_microbatch_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 2.0
    reranker_fallback_model: str = "builtin:offline-default"
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
    embedding_model: str = "builtin:all-MiniLM-L6-v2"
    embedding_batch_size: Positive = 64
    # -- storage and service -----------------------------------------------------------------
    rag_rerank_home: Path = Path(".rag-rerank")
    index_name: str = "demo"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536)] = 8000
    api_key: SecretStr | None = None
    max_body_bytes: Positive = 10_000_000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("reranker_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        from rag_core.rerankers._registry import known_types

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

    def reranker_config(self) -> dict[str, object]:
        """The keyword arguments of the configured reranker type, from these settings."""
        if self.reranker_type == "cross_encoder":
            return {
                "model_name": self.reranker_model,
                "top_n": self.reranker_top_n,
                "batch_size": self.reranker_batch_size,
                "max_length": self.reranker_max_length,
                "device": self.reranker_device,
                "backend": self.reranker_backend,
                "quantize": self.reranker_quantize,
                "long_documents": self.reranker_long_documents,
                "max_batch_tokens": self.reranker_max_batch_tokens,
                "precision": self.reranker_precision,
                "threads": self.reranker_threads,
                "microbatch_wait_ms": self.reranker_microbatch_wait_ms,
            }
        return {
            "model_name": self.reranker_model,
            "top_n": self.reranker_top_n,
            "batch_size": self.reranker_batch_size,
            "device": self.reranker_device,
        }


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    """The process-wide settings, read once."""
    return AppSettings()
