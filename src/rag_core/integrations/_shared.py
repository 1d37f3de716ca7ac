"""What the framework components share: building the reranker, the metadata we add."""

from __future__ import annotations

from typing import Any

from rag_core.rerankers import BaseReranker, RerankerFactory

__all__ = ["OUR_KEYS", "build", "ours"]

#: Metadata keys every component adds to the framework's own.
OUR_KEYS = ("rerank_score", "rerank_raw_score", "original_rank", "rerank_rank", "rerank_windows", "rerank_truncated")


def build(
    reranker: BaseReranker | None, reranker_type: str, model: str | None, options: dict[str, Any]
) -> BaseReranker:
    if reranker is not None:
        return reranker
    config = dict(options)
    if model is not None:
        config["model_name"] = model
    return RerankerFactory.create_sync(reranker_type, config)


def from_settings(settings: Any) -> BaseReranker:
    """The reranker an ``AppSettings`` (or any object with the ``reranker_*`` settings) describes."""
    reranker = RerankerFactory.create_from_settings_sync(settings)
    if reranker is None:
        raise ValueError("RERANKER_ENABLED is false: there is no reranker to wrap")
    return reranker


def ours(metadata: dict[str, Any]) -> dict[str, Any]:
    """The keys our reranker wrote on a result, to copy onto the framework's object."""
    return {k: metadata[k] for k in OUR_KEYS if k in metadata}
