"""Vector stores: the interface, an exact in-memory store, and an adapter for LangChain stores."""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag_core._documents import Document, to_document
from rag_core.embeddings import Embedder

__all__ = ["InMemoryVectorStore", "LangChainVectorStore", "VectorStore", "as_vector_store"]

logger = logging.getLogger(__name__)


class VectorStore(ABC):
    """Documents with embeddings, searchable by similarity to a query."""

    @abstractmethod
    def similarity_search_with_score(self, query: str, k: int = 4) -> list[tuple[Document, float]]:
        """The ``k`` most similar documents, best first, with their similarity."""

    def add_documents(self, documents: Sequence[Document], vectors: np.ndarray | None = None) -> None:
        raise NotImplementedError(f"{type(self).__name__} is read-only here")

    def delete(self, ids: Iterable[str]) -> int:
        raise NotImplementedError(f"{type(self).__name__} is read-only here")

    def get_vectors(self, ids: Sequence[str]) -> list[np.ndarray | None]:
        """Stored vectors for ``ids`` (None where unknown); lets a bi-encoder reranker reuse them."""
        return [None] * len(ids)

    def documents(self) -> list[Document]:
        """All documents, when the store can list them (needed to build BM25 beside it)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list its documents")

    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector, as the store's embedder makes it (query expansion needs it)."""
        raise NotImplementedError(f"{type(self).__name__} cannot embed a query")

    def search_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[Document, float]]:
        """The ``k`` documents nearest to ``vector``, best first, with their similarity."""
        raise NotImplementedError(f"{type(self).__name__} cannot search by vector")

    def vectors_of(self, documents: Sequence[Document]) -> list[np.ndarray]:
        """Vectors of ``documents``: stored ones where known, else freshly embedded."""
        stored = self.get_vectors([str(d.id) for d in documents])
        missing = [i for i, v in enumerate(stored) if v is None]
        if missing:
            fresh = self._embed_documents([documents[i].page_content for i in missing])
            for i, vec in zip(missing, fresh, strict=True):
                stored[i] = vec
        return [np.asarray(v, dtype=np.float32) for v in stored if v is not None]

    def _embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} cannot embed documents")


class InMemoryVectorStore(VectorStore):
    """Exact inner-product search on a normalised float32 matrix.

    Exact search costs one matrix-vector product: ~1M passages x 384 dims is 1.5 GB of RAM and
    tens of ms per query on a few cores. Beyond that, use an ANN store (FAISS, Qdrant, ...)
    through :class:`LangChainVectorStore`.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._ids: list[str] = []
        self._position: dict[str, int] = {}
        self._docs: dict[str, Document] = {}
        self._matrix = np.zeros((0, embedder.dimension), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def add_documents(
        self, documents: Sequence[Document], vectors: np.ndarray | None = None, *, show_progress: bool = False
    ) -> None:
        if not documents:
            return
        if any(d.id is None for d in documents):
            raise ValueError("InMemoryVectorStore needs document ids")
        if vectors is None:
            vectors = self.embedder.embed_documents([d.page_content for d in documents], show_progress=show_progress)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(documents), self._matrix.shape[1]):
            raise ValueError(
                f"vectors have shape {vectors.shape}, expected ({len(documents)}, {self._matrix.shape[1]})"
            )
        self.delete([str(d.id) for d in documents if d.id in self._position])
        start = len(self._ids)
        for offset, doc in enumerate(documents):
            doc_id = str(doc.id)
            self._ids.append(doc_id)
            self._position[doc_id] = start + offset
            self._docs[doc_id] = doc
        self._matrix = np.vstack([self._matrix, vectors])

    def delete(self, ids: Iterable[str]) -> int:
        drop = {i for i in ids if i in self._position}
        if not drop:
            return 0
        keep = [n for n, doc_id in enumerate(self._ids) if doc_id not in drop]
        self._matrix = self._matrix[keep]
        self._ids = [self._ids[n] for n in keep]
        self._position = {doc_id: n for n, doc_id in enumerate(self._ids)}
        for doc_id in drop:
            self._docs.pop(doc_id, None)
        return len(drop)

    def get_vectors(self, ids: Sequence[str]) -> list[np.ndarray | None]:
        return [self._matrix[self._position[i]] if i in self._position else None for i in ids]

    def documents(self) -> list[Document]:
        return [self._docs[i] for i in self._ids]

    def search_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[Document, float]]:
        if not self._ids or k < 1:
            return []
        scores = self._matrix @ np.asarray(vector, dtype=np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # by score, ties by insertion order
        return [(self._docs[self._ids[int(i)]], float(scores[i])) for i in top]

    def similarity_search_with_score(self, query: str, k: int = 4) -> list[tuple[Document, float]]:
        return self.search_by_vector(self.embedder.embed_query(query), k)

    def embed_query(self, query: str) -> np.ndarray:
        return np.asarray(self.embedder.embed_query(query), dtype=np.float32)

    def _embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_documents(list(texts))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        np.save(folder / "vectors.tmp.npy", self._matrix)
        (folder / "vectors.tmp.npy").replace(folder / "vectors.npy")
        (folder / "vector_ids.json").write_text(json.dumps({"model": self.embedder.model_name, "ids": self._ids}))

    def load(self, folder: str | Path, documents: dict[str, Document]) -> None:
        folder = Path(folder)
        meta = json.loads((folder / "vector_ids.json").read_text())
        if meta["model"] != self.embedder.model_name:
            raise ValueError(f"the index was embedded with {meta['model']}, not {self.embedder.model_name}")
        matrix = np.load(folder / "vectors.npy")
        keep = [n for n, i in enumerate(meta["ids"]) if i in documents]
        self._ids = [meta["ids"][n] for n in keep]
        self._matrix = matrix[keep].astype(np.float32)
        self._position = {doc_id: n for n, doc_id in enumerate(self._ids)}
        self._docs = {i: documents[i] for i in self._ids}


class LangChainVectorStore(VectorStore):
    """Wraps any LangChain vector store (anything with ``similarity_search_with_score``).

    LangChain is not a dependency: the object is duck-typed. Results are converted to
    :class:`Document`; a LangChain document's ``id`` (or ``metadata['id']``) becomes its id,
    else a content hash.
    """

    def __init__(self, store: Any) -> None:
        if not callable(getattr(store, "similarity_search_with_score", None)):
            raise TypeError("the vector store needs a similarity_search_with_score(query, k) method")
        self.store = store

    def similarity_search_with_score(self, query: str, k: int = 4) -> list[tuple[Document, float]]:
        return self._convert(self.store.similarity_search_with_score(query, k=k))

    @staticmethod
    def _convert(results: Iterable[tuple[Any, float]]) -> list[tuple[Document, float]]:
        out: list[tuple[Document, float]] = []
        for position, (item, score) in enumerate(results):
            doc = to_document(item, position)
            if doc.id is None:
                doc.id = str(doc.metadata.get("id", doc.key))
            out.append((doc, float(score)))
        return out

    def embed_query(self, query: str) -> np.ndarray:
        embeddings = getattr(self.store, "embeddings", None)
        if embeddings is None:
            return super().embed_query(query)
        return np.asarray(embeddings.embed_query(query), dtype=np.float32)

    def _embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        embeddings = getattr(self.store, "embeddings", None)
        if embeddings is None:
            return super()._embed_documents(texts)
        return np.asarray(embeddings.embed_documents(list(texts)), dtype=np.float32)

    def search_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[Document, float]]:
        search = getattr(self.store, "similarity_search_with_score_by_vector", None)
        if callable(search):
            results = list(search([float(x) for x in vector], k=k))
        else:
            plain = getattr(self.store, "similarity_search_by_vector", None)
            if not callable(plain):
                return super().search_by_vector(vector, k)
            results = [(item, 1.0 / (n + 1)) for n, item in enumerate(plain([float(x) for x in vector], k=k))]
        return self._convert(results)

    def documents(self) -> list[Document]:
        docstore = getattr(self.store, "docstore", None)
        mapping = getattr(docstore, "_dict", None)
        if isinstance(mapping, dict):
            docs = [to_document(v) for v in mapping.values()]
            for key, doc in zip(mapping, docs, strict=True):
                doc.id = doc.id or str(key)
            return docs
        return super().documents()


def as_vector_store(store: Any) -> VectorStore:
    """Our stores pass through; anything LangChain-like is wrapped."""
    return store if isinstance(store, VectorStore) else LangChainVectorStore(store)
