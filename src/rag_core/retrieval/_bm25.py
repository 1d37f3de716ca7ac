"""BM25 keyword retrieval on ``bm25s`` (sparse matrices, fast exact scoring)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag_core._documents import Document
from rag_core.retrieval._analysis import Analyzer

__all__ = ["BM25Retriever"]

logger = logging.getLogger(__name__)


class BM25Retriever:
    """Okapi BM25 over a set of documents (keyed by ``Document.id``).

    ``k1=0.9, b=0.4`` are Anserini's MS MARCO defaults. Adding or deleting documents marks the
    index stale; it is rebuilt (in seconds for 10^5 passages) at the next search.
    """

    def __init__(self, analyzer: Analyzer | None = None, *, k1: float = 0.9, b: float = 0.4) -> None:
        self.analyzer = analyzer or Analyzer()
        self.k1 = k1
        self.b = b
        self._docs: dict[str, Document] = {}
        self._terms: dict[str, list[str]] = {}
        self._index: Any = None
        self._ids: list[str] = []
        self._vocab: set[str] = set()

    @classmethod
    def from_documents(cls, documents: Iterable[Document], **kwargs: float) -> BM25Retriever:
        retriever = cls(**kwargs)  # type: ignore[arg-type]
        retriever.add(list(documents))
        return retriever

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, documents: Sequence[Document]) -> None:
        """Add (or replace, by id) documents; documents need ids."""
        for doc, terms in zip(documents, self.analyzer.analyze_many([d.page_content for d in documents]), strict=True):
            if doc.id is None:
                raise ValueError("BM25Retriever needs document ids")
            self._docs[doc.id] = doc
            self._terms[doc.id] = terms
        self._index = None

    def delete(self, ids: Iterable[str]) -> int:
        removed = 0
        for doc_id in ids:
            if self._docs.pop(doc_id, None) is not None:
                self._terms.pop(doc_id, None)
                removed += 1
        if removed:
            self._index = None
        return removed

    def get(self, doc_id: str) -> Document | None:
        return self._docs.get(doc_id)

    def _build(self) -> None:
        import bm25s

        self._ids = list(self._docs)
        corpus = [self._terms[i] for i in self._ids]
        index = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        index.index(corpus, show_progress=False)
        self._index = index
        self._vocab = {t for terms in corpus for t in terms}
        logger.debug("BM25 index built: %d documents, %d terms", len(self._ids), len(self._vocab))

    def search(self, query: str, k: int = 10) -> list[tuple[Document, float]]:
        """The ``k`` best documents with their BM25 scores; only documents sharing a term."""
        if not self._docs or k < 1:
            return []
        if self._index is None:
            self._build()
        terms = [t for t in self.analyzer(query) if t in self._vocab]
        if not terms:
            return []
        k = min(k, len(self._ids))
        results, scores = self._index.retrieve([terms], k=k, show_progress=False, n_threads=1)
        out: list[tuple[Document, float]] = []
        for position, score in zip(np.asarray(results)[0], np.asarray(scores)[0], strict=True):
            if score <= 0:
                continue
            out.append((self._docs[self._ids[int(position)]], float(score)))
        return out

    def terms_of(self, doc_id: str) -> list[str]:
        """The analysed terms of a document (empty when unknown)."""
        return self._terms.get(doc_id, [])

    def search_weighted(self, terms: Mapping[str, float], k: int = 10) -> list[tuple[Document, float]]:
        """The ``k`` best documents for analysed ``terms`` with weights (an expanded query):
        ``sum(weight * BM25(term, doc))``."""
        if not self._docs or k < 1:
            return []
        if self._index is None:
            self._build()
        known = {t: w for t, w in terms.items() if t in self._vocab and w > 0}
        if not known:
            return []
        scores = np.zeros(len(self._ids), dtype=np.float64)
        for term, weight in known.items():
            scores += weight * np.asarray(self._index.get_scores([term]), dtype=np.float64)
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [(self._docs[self._ids[int(i)]], float(scores[i])) for i in top]

    def save(self, folder: str | Path) -> None:
        """Write the analysed terms (the index is rebuilt from them on load)."""
        path = Path(folder) / "bm25_terms.jsonl"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for doc_id, terms in self._terms.items():
                handle.write(json.dumps({"id": doc_id, "terms": terms}, ensure_ascii=False) + "\n")
        tmp.replace(path)

    def load_terms(self, folder: str | Path, documents: dict[str, Document]) -> None:
        path = Path(folder) / "bm25_terms.jsonl"
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if row["id"] in documents:
                    self._docs[row["id"]] = documents[row["id"]]
                    self._terms[row["id"]] = row["terms"]
        missing = [d for d in documents.values() if d.id not in self._terms]
        if missing:
            self.add(missing)
        self._index = None
