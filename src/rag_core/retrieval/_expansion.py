"""Query expansion before retrieval (the spec's ``expand_query`` step).

An expander turns the user's query into what the retrievers search with: weighted BM25 terms,
a query vector, or a rewritten text. The reranker always sees the original query.

* :class:`RM3Expander`: pseudo-relevance feedback for BM25. The top ``feedback_docs`` BM25
  passages vote for terms (each term's share of a passage, weighted by the passage's share of
  the BM25 score mass: RM1); the ``terms`` best are interpolated with the query's own terms
  (``original_weight``), as in Lavrenko & Croft's relevance model / Anserini's RM3.
* :class:`RocchioExpander`: the dense side. The query vector moves toward the centroid of
  the top ``feedback_docs`` vector hits: ``original_weight * q + (1 - original_weight) * c``.
* :class:`CallableExpander`: any function ``query -> text`` (sync or async), e.g. an LLM
  rewrite; both retrievers then search with the returned text.
* :class:`CompositeExpander`: several at once (``prf`` = RM3 + Rocchio).

If an expander raises, retrieval goes on with the original query; the error is logged and
reported in the expansion's ``info`` (``/query`` returns it).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from rag_core._errors import ConfigurationError, RagRerankError

if TYPE_CHECKING:
    from rag_core.retrieval._hybrid import HybridRetriever

__all__ = [
    "CallableExpander",
    "CompositeExpander",
    "Expansion",
    "QueryExpander",
    "QueryExpansionError",
    "RM3Expander",
    "RocchioExpander",
    "build_expander",
]

logger = logging.getLogger(__name__)


class QueryExpansionError(RagRerankError):
    """An expander failed; the retriever fell back to the original query."""


class Expansion(NamedTuple):
    """What the retrievers search with. Fields left None mean "the original query"."""

    original: str
    text: str
    bm25_terms: Mapping[str, float] | None = None
    vector: np.ndarray | None = None
    info: dict[str, Any] = {}  # noqa: RUF012 - NamedTuple default, never mutated

    @classmethod
    def unchanged(cls, query: str, **info: Any) -> Expansion:
        return cls(query, query, info=dict(info))


class QueryExpander(ABC):
    """Expands a query using the retriever it will run on (its BM25 index, vector store)."""

    name: ClassVar[str] = "expander"

    @abstractmethod
    def expand_sync(self, query: str, retriever: HybridRetriever) -> Expansion:
        """The expansion of ``query`` (blocking)."""

    async def expand(self, query: str, retriever: HybridRetriever) -> Expansion:
        """The expansion of ``query``, off the event loop."""
        return await asyncio.to_thread(self.expand_sync, query, retriever)


class RM3Expander(QueryExpander):
    """RM3 pseudo-relevance feedback on the retriever's BM25 index."""

    name: ClassVar[str] = "rm3"

    def __init__(self, feedback_docs: int = 10, terms: int = 10, original_weight: float = 0.5) -> None:
        if feedback_docs < 1 or terms < 1 or not 0.0 <= original_weight <= 1.0:
            raise ConfigurationError("RM3 needs feedback_docs >= 1, terms >= 1 and 0 <= original_weight <= 1")
        self.feedback_docs = feedback_docs
        self.terms = terms
        self.original_weight = original_weight

    def weights(self, query_terms: Sequence[str], feedback: Sequence[tuple[Sequence[str], float]]) -> dict[str, float]:
        """RM3 term weights from the query's terms and ``(passage terms, score)`` feedback."""
        counts = Counter(query_terms)
        total_q = sum(counts.values())
        p_query = {t: c / total_q for t, c in counts.items()} if total_q else {}
        mass = sum(max(score, 0.0) for _, score in feedback)
        rm1: dict[str, float] = {}
        for terms, score in feedback:
            if not terms or mass <= 0:
                continue
            share = max(score, 0.0) / mass
            for term, count in Counter(terms).items():
                rm1[term] = rm1.get(term, 0.0) + share * count / len(terms)
        top = dict(sorted(rm1.items(), key=lambda kv: (-kv[1], kv[0]))[: self.terms])
        norm = sum(top.values())
        relevance = {t: w / norm for t, w in top.items()} if norm > 0 else {}
        out: dict[str, float] = {}
        for term in set(p_query) | set(relevance):
            out[term] = self.original_weight * p_query.get(term, 0.0) + (1 - self.original_weight) * relevance.get(
                term, 0.0
            )
        return {t: w for t, w in sorted(out.items(), key=lambda kv: -kv[1]) if w > 0}

    def expand_sync(self, query: str, retriever: HybridRetriever) -> Expansion:
        bm25 = retriever.bm25
        if bm25 is None:
            return Expansion.unchanged(query, expander=self.name, skipped="no BM25 index")
        hits = bm25.search(query, self.feedback_docs)
        if not hits:
            return Expansion.unchanged(query, expander=self.name, feedback_docs=0)
        query_terms = bm25.analyzer(query)
        feedback = [(bm25.terms_of(str(doc.id)), score) for doc, score in hits]
        weights = self.weights(query_terms, feedback)
        added = {t: round(w, 4) for t, w in weights.items() if t not in set(query_terms)}
        return Expansion(
            query,
            query,
            bm25_terms=weights,
            info={"expander": self.name, "feedback_docs": len(hits), "added_terms": added},
        )


class RocchioExpander(QueryExpander):
    """Rocchio feedback on the retriever's vector store: the query vector moves toward its hits."""

    name: ClassVar[str] = "rocchio"

    def __init__(self, feedback_docs: int = 10, original_weight: float = 0.5) -> None:
        if feedback_docs < 1 or not 0.0 <= original_weight <= 1.0:
            raise ConfigurationError("Rocchio needs feedback_docs >= 1 and 0 <= original_weight <= 1")
        self.feedback_docs = feedback_docs
        self.original_weight = original_weight

    def expand_sync(self, query: str, retriever: HybridRetriever) -> Expansion:
        store = retriever.vector_store
        if store is None:
            return Expansion.unchanged(query, expander=self.name, skipped="no vector store")
        q = np.asarray(store.embed_query(query), dtype=np.float32)
        hits = store.search_by_vector(q, self.feedback_docs)
        if not hits:
            return Expansion.unchanged(query, expander=self.name, feedback_docs=0)
        vectors = store.vectors_of([doc for doc, _ in hits])
        centroid = np.mean(np.stack(vectors), axis=0)
        moved = self.original_weight * q + (1 - self.original_weight) * centroid
        norm = float(np.linalg.norm(moved))
        vector = moved / norm if norm > 0 else q
        return Expansion(query, query, vector=vector, info={"expander": self.name, "feedback_docs": len(hits)})


class CallableExpander(QueryExpander):
    """Wraps ``fn(query) -> str`` (or an ``async`` one): an LLM rewrite, a synonym table, ..."""

    name: ClassVar[str] = "callable"

    def __init__(self, fn: Callable[[str], str] | Callable[[str], Awaitable[str]], name: str | None = None) -> None:
        self.fn = fn
        self.label = name or getattr(fn, "__name__", "callable")

    def _result(self, query: str, text: Any) -> Expansion:
        if not isinstance(text, str) or not text.strip():
            raise QueryExpansionError(f"expander {self.label!r} returned {type(text).__name__}, not a non-empty string")
        return Expansion(query, text, info={"expander": self.label, "rewritten": text})

    def expand_sync(self, query: str, retriever: HybridRetriever) -> Expansion:
        result = self.fn(query)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return self._result(query, result)

    async def expand(self, query: str, retriever: HybridRetriever) -> Expansion:
        if inspect.iscoroutinefunction(self.fn):
            return self._result(query, await self.fn(query))
        return await super().expand(query, retriever)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class CompositeExpander(QueryExpander):
    """Runs several expanders on the original query and merges what each contributes."""

    name: ClassVar[str] = "composite"

    def __init__(self, expanders: Sequence[QueryExpander]) -> None:
        if not expanders:
            raise ConfigurationError("a composite expander needs at least one expander")
        self.expanders = list(expanders)

    def _merge(self, query: str, parts: Sequence[Expansion]) -> Expansion:
        text = next((p.text for p in parts if p.text != query), query)
        terms = next((p.bm25_terms for p in parts if p.bm25_terms is not None), None)
        vector = next((p.vector for p in parts if p.vector is not None), None)
        return Expansion(
            query,
            text,
            terms,
            vector,
            {"expander": "+".join(p.info.get("expander", "?") for p in parts), "parts": [p.info for p in parts]},
        )

    def expand_sync(self, query: str, retriever: HybridRetriever) -> Expansion:
        return self._merge(query, [e.expand_sync(query, retriever) for e in self.expanders])

    async def expand(self, query: str, retriever: HybridRetriever) -> Expansion:
        return self._merge(query, list(await asyncio.gather(*(e.expand(query, retriever) for e in self.expanders))))


def timed_expand_sync(expander: QueryExpander, query: str, retriever: HybridRetriever) -> Expansion:
    """``expand_sync`` that never raises: a failure falls back to the original query, reported."""
    started = time.perf_counter()
    try:
        expansion = expander.expand_sync(query, retriever)
    except Exception as exc:
        return _failed(expander, query, exc, started)
    return expansion._replace(info={**expansion.info, "ms": round((time.perf_counter() - started) * 1000, 2)})


async def timed_expand(expander: QueryExpander, query: str, retriever: HybridRetriever) -> Expansion:
    """:func:`timed_expand_sync` for the async path."""
    started = time.perf_counter()
    try:
        expansion = await expander.expand(query, retriever)
    except Exception as exc:
        return _failed(expander, query, exc, started)
    return expansion._replace(info={**expansion.info, "ms": round((time.perf_counter() - started) * 1000, 2)})


def _failed(expander: QueryExpander, query: str, exc: Exception, started: float) -> Expansion:
    label = getattr(expander, "label", expander.name)
    error = QueryExpansionError(
        f"query expansion {label!r} failed ({type(exc).__name__}: {exc}); searched with the original query"
    )
    logger.warning("%s", error)
    return Expansion.unchanged(
        query, expander=label, error=str(error), ms=round((time.perf_counter() - started) * 1000, 2)
    )


def build_expander(
    name: str, *, feedback_docs: int = 10, terms: int = 10, original_weight: float = 0.5
) -> QueryExpander | None:
    """The expander a ``QUERY_EXPANSION`` value names: none, rm3, rocchio or prf (rm3 + rocchio)."""
    name = name.strip().lower()
    if name in ("", "none"):
        return None
    rm3 = RM3Expander(feedback_docs, terms, original_weight)
    rocchio = RocchioExpander(feedback_docs, original_weight)
    if name == "rm3":
        return rm3
    if name == "rocchio":
        return rocchio
    if name == "prf":
        return CompositeExpander([rm3, rocchio])
    raise ConfigurationError(f"unknown query expansion {name!r}; use none, rm3, rocchio or prf")
