"""A bi-encoder reranker: cosine similarity of sentence embeddings (fast, no pair model)."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from rag_core._documents import Document, content_hash
from rag_core.embeddings import Embedder, SentenceTransformerEmbedder, load_embedder
from rag_core.engines import PairScores, ScoringEngine
from rag_core.engines._microbatch import MicroBatcher
from rag_core.rerankers._base import BaseReranker, DocumentScores
from rag_core.rerankers._fusion import FusionSetting

__all__ = ["BiEncoderReranker", "VectorLookup"]

#: Returns stored vectors for document ids (None where a document has none).
VectorLookup = Callable[[Sequence[str]], list[np.ndarray | None]]


class BiEncoderReranker(BaseReranker):
    """Ranks by cosine similarity between query and document embeddings.

    ``rerank_score`` is ``(1 + cosine) / 2`` (in [0, 1]); the cosine is ``rerank_raw_score``.
    When ``vector_lookup`` is given (a vector store built with the same embedder), documents
    whose id it knows reuse their stored vectors instead of being embedded again. Passages it
    embedded itself are kept in an LRU cache (``vector_cache_size`` vectors, keyed by content),
    so a run that meets a passage again (another query, the 20-candidate pass after the
    100-candidate one) does not embed it twice.
    """

    name: ClassVar[str] = "bi_encoder"

    def __init__(
        self,
        model_name: str = "builtin:all-MiniLM-L6-v2",
        top_n: int = 5,
        batch_size: int = 64,
        device: str | None = None,
        *,
        embedder: Embedder | None = None,
        vector_lookup: VectorLookup | None = None,
        vector_cache_size: int = 100_000,
        fusion: FusionSetting = "none",
        fusion_weight: float | None = None,
        instruction: str | None = None,
        microbatch_wait_ms: float = 2.0,
        max_queue_tokens: int | None = None,
        max_queue_wait_s: float | None = None,
    ) -> None:
        super().__init__(top_n=top_n, fusion=fusion, fusion_weight=fusion_weight, instruction=instruction)
        if embedder is None:  # share the process-wide model unless a different batch size is asked for
            embedder = load_embedder(model_name, device)
            if batch_size != 64 and isinstance(embedder, SentenceTransformerEmbedder):
                embedder = SentenceTransformerEmbedder(model_name, device=device, batch_size=batch_size)
        self.embedder = embedder
        self.languages = self.card_languages(embedder.model_name)
        self.vector_lookup = vector_lookup
        self.reused_vectors = 0
        self.cached_vectors = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = max(0, vector_cache_size)
        self._cache_lock = threading.Lock()
        # Passages to embed go through a micro-batcher (the service's path): requests are merged,
        # admitted against the queue's measured throughput and their deadlines, and cancelled
        # with their callers, as a cross-encoder's pairs are.
        self._batcher = MicroBatcher(
            _CosineEngine(self),
            wait_ms=microbatch_wait_ms,
            max_queue_cost=max_queue_tokens,
            max_wait_s=max_queue_wait_s,
        )

    @property
    def pending_cost(self) -> int:
        return self._batcher.pending_cost

    @property
    def model_name(self) -> str:
        return self.embedder.model_name

    def reuse_vectors_from(self, store: Any) -> bool:
        """Reuse the vectors of ``store`` (a vector store embedded with the same model)."""
        embedder = getattr(store, "embedder", None)
        if embedder is None or embedder.model_name != self.embedder.model_name:
            return False
        self.vector_lookup = store.get_vectors
        return True

    def check_admission(self, query: str, documents: Sequence[Document], deadline: float | None = None) -> None:
        vectors = self._known_vectors(documents, count=False)
        missing = [(query, documents[i].page_content) for i, v in enumerate(vectors) if v is None]
        if missing:
            self._batcher.check(missing, deadline=deadline)

    def _known_vectors(self, documents: Sequence[Document], *, count: bool = True) -> list[np.ndarray | None]:
        """The documents' vectors from the index (by id) or the cache (by content); None where unknown."""
        vectors: list[np.ndarray | None] = [None] * len(documents)
        if self.vector_lookup is not None:
            with_ids = [i for i, d in enumerate(documents) if d.id is not None]
            found = self.vector_lookup([str(documents[i].id) for i in with_ids]) if with_ids else []
            for i, vec in zip(with_ids, found, strict=True):
                vectors[i] = vec
        if count:
            self.reused_vectors += sum(v is not None for v in vectors)
        with self._cache_lock:
            for i, doc in enumerate(documents):
                if vectors[i] is None:
                    key = content_hash(doc.page_content)
                    hit = self._cache.get(key)
                    if hit is not None:
                        self._cache.move_to_end(key)
                        vectors[i] = hit
                        self.cached_vectors += count
        return vectors

    def _embed_passages(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Embed ``texts`` and keep their vectors in the LRU cache."""
        fresh = [np.asarray(v, dtype=np.float32) for v in self.embedder.embed_documents(list(texts))]
        if self._cache_size:
            with self._cache_lock:
                for text, vec in zip(texts, fresh, strict=True):
                    self._cache[content_hash(text)] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return fresh

    async def _score_documents_async(
        self, query: str, documents: Sequence[Document], *, deadline: float | None = None
    ) -> DocumentScores:
        vectors = self._known_vectors(documents)
        missing = [i for i, v in enumerate(vectors) if v is None]
        cosine = np.zeros(len(documents), dtype=np.float64)
        if missing:  # passages no index or cache holds: embedded through the micro-batcher
            scored = await asyncio.wrap_future(
                self._batcher.submit([(query, documents[i].page_content) for i in missing], deadline=deadline)
            )
            cosine[missing] = scored.logits
        known = [i for i, v in enumerate(vectors) if v is not None]
        if known:
            query_vector = await asyncio.get_running_loop().run_in_executor(None, self.embedder.embed_query, query)
            matrix = np.stack([np.asarray(vectors[i], dtype=np.float32) for i in known])
            cosine[known] = matrix @ np.asarray(query_vector, dtype=np.float32)
        return DocumentScores((1.0 + cosine) / 2.0, cosine)

    def close(self) -> None:
        super().close()
        self._batcher.close()

    def _score_documents(self, query: str, documents: Sequence[Document]) -> DocumentScores:
        vectors = self._known_vectors(documents)
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            for i, vec in zip(missing, self._embed_passages([documents[i].page_content for i in missing]), strict=True):
                vectors[i] = vec
        matrix = np.stack([np.asarray(v, dtype=np.float32) for v in vectors if v is not None])
        cosine = (matrix @ self.embedder.embed_query(query)).astype(np.float64)
        return DocumentScores((1.0 + cosine) / 2.0, cosine)


class _CosineEngine(ScoringEngine):
    """The bi-encoder as a scoring engine for the micro-batcher: the cosine of each pair's query
    and passage embeddings (passages embedded in one call per batch, queries once each)."""

    backend: ClassVar[str] = "bi_encoder"

    def __init__(self, reranker: BiEncoderReranker) -> None:
        self._reranker = reranker
        self.model_name = reranker.embedder.model_name

    def score(self, pairs: Sequence[tuple[str, str]]) -> PairScores:
        if not pairs:
            return PairScores.empty()
        embedder = self._reranker.embedder
        queries = {q: np.asarray(embedder.embed_query(q), dtype=np.float32) for q in dict.fromkeys(q for q, _ in pairs)}
        passages = self._reranker._embed_passages([p for _, p in pairs])
        logits = np.asarray(
            [float(queries[q] @ v) for (q, _), v in zip(pairs, passages, strict=True)], dtype=np.float32
        )
        return PairScores(logits, np.ones(len(pairs), dtype=np.int64), np.zeros(len(pairs), dtype=bool))
