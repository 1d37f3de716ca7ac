"""A bi-encoder reranker: cosine similarity of sentence embeddings (fast, no pair model)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from rag_core._documents import Document, content_hash
from rag_core.embeddings import Embedder, SentenceTransformerEmbedder, load_embedder
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
    ) -> None:
        super().__init__(top_n=top_n, fusion=fusion, fusion_weight=fusion_weight, instruction=instruction)
        if embedder is None:  # share the process-wide model unless a different batch size is asked for
            embedder = (
                load_embedder(model_name, device)
                if batch_size == 64
                else SentenceTransformerEmbedder(model_name, device=device, batch_size=batch_size)
            )
        self.embedder = embedder
        self.languages = self.card_languages(embedder.model_name)
        self.vector_lookup = vector_lookup
        self.reused_vectors = 0
        self.cached_vectors = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = max(0, vector_cache_size)
        self._cache_lock = threading.Lock()

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

    def _score_documents(self, query: str, documents: Sequence[Document]) -> DocumentScores:
        vectors: list[np.ndarray | None] = [None] * len(documents)
        if self.vector_lookup is not None:
            with_ids = [i for i, d in enumerate(documents) if d.id is not None]
            found = self.vector_lookup([str(documents[i].id) for i in with_ids]) if with_ids else []
            for i, vec in zip(with_ids, found, strict=True):
                vectors[i] = vec
        missing = [i for i, v in enumerate(vectors) if v is None]
        self.reused_vectors += len(documents) - len(missing)
        keys = {i: content_hash(documents[i].page_content) for i in missing}
        with self._cache_lock:
            for i in missing:
                hit = self._cache.get(keys[i])
                if hit is not None:
                    self._cache.move_to_end(keys[i])
                    vectors[i] = hit
                    self.cached_vectors += 1
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            fresh = self.embedder.embed_documents([documents[i].page_content for i in missing])
            with self._cache_lock:
                for i, vec in zip(missing, fresh, strict=True):
                    vectors[i] = vec
                    if self._cache_size:
                        self._cache[keys[i]] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        matrix = np.stack([np.asarray(v, dtype=np.float32) for v in vectors if v is not None])
        cosine = (matrix @ self.embedder.embed_query(query)).astype(np.float64)
        return DocumentScores((1.0 + cosine) / 2.0, cosine)
