"""``HybridRetriever``: vector search and BM25 run concurrently, fused with RRF."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal

from rag_core._documents import Document
from rag_core._errors import ConfigurationError, InvalidInputError
from rag_core.loaders import normalized_key
from rag_core.retrieval._bm25 import BM25Retriever
from rag_core.retrieval._expansion import Expansion, QueryExpander, timed_expand, timed_expand_sync
from rag_core.retrieval._fusion import reciprocal_rank_fusion
from rag_core.retrieval._vector_store import VectorStore, as_vector_store

__all__ = ["HybridRetriever", "RetrieverMode"]

logger = logging.getLogger(__name__)

RetrieverMode = Literal["hybrid", "bm25", "vector"]


class HybridRetriever:
    """Stage one of the pipeline: recall candidates fast.

    ``mode="hybrid"`` runs vector search and BM25 (each ``depth`` deep) concurrently and fuses
    them with Reciprocal Rank Fusion (``rrf_k``, optional per-retriever ``weights`` keyed
    ``"vector"`` / ``"bm25"``). Returned documents are new objects whose ``score`` is the fused
    score and whose metadata records ``retrieval_ranks`` / ``retrieval_scores`` per retriever.
    ``vector_store`` may be ours or any LangChain vector store. With an ``expander`` (see
    :mod:`rag_core.retrieval._expansion`), each retriever searches with the expanded query
    (weighted BM25 terms, a moved query vector or a rewritten text); a failing expander falls
    back to the original query. :meth:`retrieve_expanded` also returns what the expansion did.
    """

    def __init__(
        self,
        vector_store: Any = None,
        top_k: int = 20,
        *,
        bm25: BM25Retriever | None = None,
        mode: RetrieverMode = "hybrid",
        depth: int = 100,
        rrf_k: int = 60,
        weights: Mapping[str, float] | None = None,
        expander: QueryExpander | None = None,
    ) -> None:
        if top_k < 1 or depth < 1:
            raise ConfigurationError("top_k and depth must be >= 1")
        if mode not in ("hybrid", "bm25", "vector"):
            raise ConfigurationError(f"mode must be hybrid, bm25 or vector, got {mode!r}")
        self.vector_store: VectorStore | None = as_vector_store(vector_store) if vector_store is not None else None
        if bm25 is None and mode != "vector" and self.vector_store is not None:
            try:
                bm25 = BM25Retriever.from_documents(self.vector_store.documents())
            except NotImplementedError as exc:
                raise ConfigurationError(
                    f"mode={mode!r} needs BM25 over the same documents: pass bm25=BM25Retriever.from_documents(docs)"
                    " or use mode='vector'"
                ) from exc
        if mode in ("hybrid", "vector") and self.vector_store is None:
            raise ConfigurationError(f"mode={mode!r} needs a vector_store")
        if mode in ("hybrid", "bm25") and bm25 is None:
            raise ConfigurationError(f"mode={mode!r} needs a BM25 retriever (bm25=...)")
        self.bm25 = bm25
        self.mode: RetrieverMode = mode
        self.top_k = top_k
        self.depth = depth
        self.rrf_k = rrf_k
        self.weights = dict(weights) if weights else None
        self.expander = expander

    def _vector(self, query: Expansion, k: int) -> list[tuple[Document, float]]:
        assert self.vector_store is not None
        if query.vector is not None:
            return self.vector_store.search_by_vector(query.vector, k)
        return self.vector_store.similarity_search_with_score(query.text, k)

    def _bm25(self, query: Expansion, k: int) -> list[tuple[Document, float]]:
        assert self.bm25 is not None
        if query.bm25_terms:
            return self.bm25.search_weighted(query.bm25_terms, k)
        return self.bm25.search(query.text, k)

    def expand_sync(self, query: str) -> Expansion:
        """What the retrievers search with for ``query`` (the query itself without an expander)."""
        if self.expander is None:
            return Expansion.unchanged(query)
        return timed_expand_sync(self.expander, query, self)

    def retrieve_sync(self, query: str, top_k: int | None = None) -> list[Document]:
        """Blocking twin of :meth:`retrieve` (the retrievers run one after the other)."""
        k = self._check(query, top_k)
        return self.search_expanded(self.expand_sync(query), k)

    def search_expanded(self, expansion: Expansion, top_k: int | None = None) -> list[Document]:
        """The fused top ``top_k`` for an expansion made beforehand (blocking)."""
        k = self._check(expansion.original, top_k)
        lists = {}
        if self.mode in ("hybrid", "vector"):
            lists["vector"] = self._vector(expansion, max(self.depth, k))
        if self.mode in ("hybrid", "bm25"):
            lists["bm25"] = self._bm25(expansion, max(self.depth, k))
        return self._fuse(lists, k)

    async def retrieve(self, query: str, top_k: int | None = None) -> list[Document]:
        """The ``top_k`` (default: the constructor's) best candidates for ``query``."""
        documents, _ = await self.retrieve_expanded(query, top_k)
        return documents

    async def retrieve_expanded(self, query: str, top_k: int | None = None) -> tuple[list[Document], Expansion]:
        """:meth:`retrieve`, and the expansion the retrievers searched with."""
        k = self._check(query, top_k)
        started = time.perf_counter()
        expansion = Expansion.unchanged(query)
        if self.expander is not None:
            expansion = await timed_expand(self.expander, query, self)
        names: list[str] = []
        tasks = []
        if self.mode in ("hybrid", "vector"):
            names.append("vector")
            tasks.append(asyncio.to_thread(self._vector, expansion, max(self.depth, k)))
        if self.mode in ("hybrid", "bm25"):
            names.append("bm25")
            tasks.append(asyncio.to_thread(self._bm25, expansion, max(self.depth, k)))
        results = await asyncio.gather(*tasks)
        fused = self._fuse(dict(zip(names, results, strict=True)), k)
        logger.debug(
            "retrieved %d candidates in %.1f ms (%s)", len(fused), (time.perf_counter() - started) * 1000, self.mode
        )
        return fused, expansion

    def _check(self, query: Any, top_k: Any) -> int:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query must be a non-empty string")
        k = self.top_k if top_k is None else top_k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"top_k must be a positive integer, got {top_k!r}")
        return int(k)

    def _fuse(self, lists: dict[str, list[tuple[Document, float]]], k: int) -> list[Document]:
        docs: dict[str, Document] = {}
        scores: dict[str, dict[str, float]] = {}
        rankings: dict[str, list[str]] = {}
        for name, hits in lists.items():
            keys = []
            for doc, score in hits:
                key = doc.key
                docs.setdefault(key, doc)
                scores.setdefault(key, {})[name] = score
                keys.append(key)
            rankings[name] = keys
        fused = reciprocal_rank_fusion(rankings, k=self.rrf_k, weights=self.weights, limit=None)
        out: list[Document] = []
        seen: set[str] = set()
        for item in fused:
            text_key = normalized_key(docs[item.key].page_content)
            if text_key in seen:  # the same text under another id (another file, a copy): shown once
                continue
            seen.add(text_key)
            if len(out) == k:
                break
            doc = docs[item.key].copy_with(score=item.score)
            doc.metadata["retrieval_ranks"] = dict(item.ranks)
            doc.metadata["retrieval_scores"] = scores[item.key]
            doc.metadata["retrieval_score"] = item.score
            out.append(doc)
        return out
