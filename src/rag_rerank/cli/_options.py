"""Reranker options shared by commands that build a reranker (eval, bench, serve)."""

from __future__ import annotations

from typing import Any

from rag_core.rerankers import BaseReranker, RerankerFactory
from rag_rerank.settings import AppSettings


def build_reranker(
    *,
    reranker_type: str | None = None,
    model: str | None = None,
    backend: str | None = None,
    quantize: str | None = None,
    batch_size: int | None = None,
    max_length: int | None = None,
    fallback: bool = True,
) -> BaseReranker:
    """The reranker the settings describe, with command-line overrides (never None: enabled)."""
    overrides: dict[str, Any] = {"reranker_enabled": True}
    for key, value in (
        ("reranker_type", reranker_type),
        ("reranker_model", model),
        ("reranker_backend", backend),
        ("reranker_quantize", quantize),
        ("reranker_batch_size", batch_size),
        ("reranker_max_length", max_length),
    ):
        if value is not None:
            overrides[key] = value
    if not fallback or model is not None:  # a model named on the command line must load, or fail
        overrides["reranker_fallback_model"] = ""
    settings = AppSettings(**overrides)
    reranker = RerankerFactory.create_from_settings_sync(settings)
    assert reranker is not None
    return reranker
