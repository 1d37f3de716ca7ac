"""The index on Milvus: the text with Milvus's own BM25 function (sparse), the dense vector and
metadata in one collection; a query is one ``hybrid_search`` fused by the engine's RRF ranker.

``INDEX_URI`` picks the deployment:

* ``milvus:///path/to/data.db``: Milvus Lite, embedded in this process (``pymilvus[milvus-lite]``);
* ``http://host:19530`` (or ``https://``): a Milvus standalone or distributed cluster, or a
  ``milvus-lite server``; ``MILVUS_TOKEN`` authenticates.

The record of ingested files (for incremental ingest) lives in a second collection beside the
passages, so any process that connects sees the same state. Needs the ``milvus`` extra.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rag_core._documents import Document
from rag_core._errors import ConfigurationError, InvalidInputError, MissingExtraError
from rag_core.embeddings import Embedder
from rag_core.retrieval._expansion import Expansion, QueryExpander
from rag_core.retrieval._hybrid import HybridRetriever, RetrieverMode
from rag_core.retrieval._index import Progress, SearchIndex
from rag_core.retrieval._vector_store import VectorStore

__all__ = ["MilvusIndex", "MilvusRetriever", "MilvusVectorStore"]

logger = logging.getLogger(__name__)

MAX_TEXT = 65_535
_BATCH = 256


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError as exc:
        raise MissingExtraError(
            "INDEX_URI points at Milvus, which needs pymilvus: pip install 'rag-rerank[milvus]'"
        ) from exc
    return pymilvus


def connect(uri: str, token: str | None = None) -> Any:
    """A ``MilvusClient`` for an ``INDEX_URI`` (``milvus:///path`` or ``http(s)://host:port``)."""
    pymilvus = _pymilvus()
    if uri.startswith("milvus://"):
        path = uri.removeprefix("milvus://")
        if not path.startswith("/"):
            raise ConfigurationError(f"INDEX_URI {uri!r}: write an absolute path, milvus:///abs/path/data.db")
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return pymilvus.MilvusClient(path)
    if uri.startswith(("http://", "https://")):
        return pymilvus.MilvusClient(uri=uri, token=token or "")
    raise ConfigurationError(f"INDEX_URI {uri!r}: use milvus:///path/data.db or http://host:19530")


class MilvusVectorStore(VectorStore):
    """The dense side of a Milvus collection, as a :class:`VectorStore` (bi-encoder vector reuse,
    Rocchio expansion, vector-only retrieval)."""

    def __init__(self, index: MilvusIndex) -> None:
        self.index = index
        self.embedder = index.embedder

    def embed_query(self, query: str) -> np.ndarray:
        return np.asarray(self.embedder.embed_query(query), dtype=np.float32)

    def _embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_documents(list(texts))

    def search_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[Document, float]]:
        hits = self.index.client.search(
            self.index.collection,
            data=[[float(x) for x in vector]],
            anns_field="dense",
            limit=k,
            search_params={"metric_type": "IP"},
            output_fields=["text", "meta"],
        )
        return [(self.index.to_document(h), float(h["distance"])) for h in hits[0]]

    def similarity_search_with_score(self, query: str, k: int = 4) -> list[tuple[Document, float]]:
        return self.search_by_vector(self.embed_query(query), k)

    def get_vectors(self, ids: Sequence[str]) -> list[np.ndarray | None]:
        if not ids:
            return []
        rows = self.index.client.get(self.index.collection, ids=list(ids), output_fields=["dense"])
        found = {str(r["id"]): np.asarray(r["dense"], dtype=np.float32) for r in rows}
        return [found.get(i) for i in ids]


class MilvusRetriever(HybridRetriever):
    """A :class:`HybridRetriever` whose search runs in Milvus: ``hybrid`` is one
    ``hybrid_search`` (BM25 full text + dense, ``RRFRanker(rrf_k)``), ``bm25`` and ``vector``
    one search each. Expansions that rewrite the text or move the vector apply; weighted BM25
    terms (RM3) do not, as Milvus analyses the text itself: the original text is searched."""

    def __init__(
        self,
        index: MilvusIndex,
        *,
        top_k: int = 20,
        mode: RetrieverMode = "hybrid",
        depth: int = 100,
        rrf_k: int = 60,
        expander: QueryExpander | None = None,
    ) -> None:  # no super().__init__: there is no local BM25 index to check or build
        if top_k < 1 or depth < 1:
            raise ConfigurationError("top_k and depth must be >= 1")
        if mode not in ("hybrid", "bm25", "vector"):
            raise ConfigurationError(f"mode must be hybrid, bm25 or vector, got {mode!r}")
        self.index = index
        self.vector_store = MilvusVectorStore(index)
        self.bm25 = None
        self.mode = mode
        self.top_k = top_k
        self.depth = depth
        self.rrf_k = rrf_k
        self.weights = None
        self.expander = expander

    def search_expanded(self, expansion: Expansion, top_k: int | None = None) -> list[Document]:
        k = self._check(expansion.original, top_k)
        return self.index.search(
            expansion.text,
            vector=expansion.vector,
            mode=self.mode,
            k=k,
            depth=max(self.depth, k),
            rrf_k=self.rrf_k,
        )

    async def retrieve_expanded(self, query: str, top_k: int | None = None) -> tuple[list[Document], Expansion]:
        import asyncio

        from rag_core.retrieval._expansion import timed_expand

        k = self._check(query, top_k)
        expansion = Expansion.unchanged(query)
        if self.expander is not None:
            expansion = await timed_expand(self.expander, query, self)
        return await asyncio.to_thread(self.search_expanded, expansion, k), expansion


class MilvusIndex(SearchIndex):
    """Passages in a Milvus collection (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        collection: str,
        embedder: Embedder,
        *,
        uri: str = "",
        max_units: int = 200,
        overlap: int = 40,
        stopwords: Sequence[str] | None = None,
    ) -> None:
        self.client = client
        self.collection = collection
        self.files_collection = f"{collection}__files"
        self.embedder = embedder
        self.uri = uri
        self.max_units = max_units
        self.overlap = overlap
        self._stopwords = list(stopwords) if stopwords is not None else _english_stopwords()
        self.files: dict[str, dict[str, Any]] = {}
        self._ensure_collections()
        self._load_files()

    @classmethod
    def open(
        cls, uri: str, embedder: Embedder, *, collection: str = "rag_rerank", token: str | None = None, **kwargs: Any
    ) -> MilvusIndex:
        if not collection.replace("_", "").isalnum():
            raise ConfigurationError(f"MILVUS_COLLECTION {collection!r}: letters, digits and underscores only")
        index = cls(connect(uri, token), collection, embedder, uri=uri, **kwargs)
        logger.info("opened Milvus index %s / %s: %d passages", uri, collection, len(index))
        return index

    # -- schema ---------------------------------------------------------------------------------
    def _ensure_collections(self) -> None:
        pymilvus = _pymilvus()
        client = self.client
        if not client.has_collection(self.collection):
            schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", pymilvus.DataType.VARCHAR, is_primary=True, max_length=512)
            schema.add_field(
                "text",
                pymilvus.DataType.VARCHAR,
                max_length=MAX_TEXT,
                enable_analyzer=True,
                analyzer_params={"tokenizer": "standard", "filter": [{"type": "stop", "stop_words": self._stopwords}]},
            )
            schema.add_field("sparse", pymilvus.DataType.SPARSE_FLOAT_VECTOR)
            schema.add_field("dense", pymilvus.DataType.FLOAT_VECTOR, dim=self.embedder.dimension)
            schema.add_field("meta", pymilvus.DataType.JSON)
            schema.add_function(
                pymilvus.Function(
                    name="text_bm25",
                    function_type=pymilvus.FunctionType.BM25,
                    input_field_names=["text"],
                    output_field_names=["sparse"],
                )
            )
            params = client.prepare_index_params()
            params.add_index(
                field_name="sparse",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params={"bm25_k1": 0.9, "bm25_b": 0.4},  # the embedded index's (Anserini's) parameters
            )
            params.add_index(field_name="dense", index_type="AUTOINDEX", metric_type="IP")
            client.create_collection(self.collection, schema=schema, index_params=params)
            logger.info(
                "created Milvus collection %s (BM25 function + %d-d vectors)", self.collection, self.embedder.dimension
            )
        if not client.has_collection(self.files_collection):
            schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("source", pymilvus.DataType.VARCHAR, is_primary=True, max_length=4096)
            schema.add_field("record", pymilvus.DataType.JSON)
            schema.add_field("unused", pymilvus.DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field
            params = client.prepare_index_params()
            params.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
            client.create_collection(self.files_collection, schema=schema, index_params=params)
        client.load_collection(self.collection)
        client.load_collection(self.files_collection)

    def _load_files(self) -> None:
        rows = self.client.query(self.files_collection, filter='source != ""', output_fields=["source", "record"])
        self.files = {str(r["source"]): dict(r["record"]) for r in rows}

    # -- SearchIndex ----------------------------------------------------------------------------
    def __len__(self) -> int:
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def __str__(self) -> str:
        return f"{self.uri} / {self.collection}"

    def describe(self) -> dict[str, Any]:
        return {"backend": "milvus", "uri": self.uri, "collection": self.collection, "passages": len(self)}

    @property
    def vectors(self) -> MilvusVectorStore:
        return MilvusVectorStore(self)

    def contains(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 1000):
            rows = self.client.get(self.collection, ids=list(ids[start : start + 1000]), output_fields=["id"])
            found.update(str(r["id"]) for r in rows)
        return found

    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]:
        found: dict[str, Document] = {}
        for start in range(0, len(ids), 1000):
            rows = self.client.get(
                self.collection, ids=list(ids[start : start + 1000]), output_fields=["id", "text", "meta"]
            )
            for row in rows:
                found[str(row["id"])] = Document(str(row["text"]), dict(row.get("meta") or {}), id=str(row["id"]))
        return found

    def update_metadata(self, doc_id: str, metadata: dict[str, Any]) -> None:
        rows = self.client.get(self.collection, ids=[doc_id], output_fields=["id", "text", "dense"])
        if not rows:
            return
        row = rows[0]
        self.client.upsert(
            self.collection,
            [
                {
                    "id": doc_id,
                    "text": row["text"],
                    "dense": [float(x) for x in row["dense"]],
                    "meta": _json_safe(metadata),
                }
            ],
        )

    def add_documents(
        self, documents: Sequence[Document], *, progress: Progress | None = None, vectors: np.ndarray | None = None
    ) -> int:
        """Add (or replace) documents; ``vectors`` (one row per document, from the same embedder)
        skips embedding them again."""
        if not documents:
            return 0
        if vectors is not None and len(vectors) != len(documents):
            raise InvalidInputError(f"{len(vectors)} vectors for {len(documents)} documents")
        for doc in documents:
            if doc.id is None:
                raise InvalidInputError("indexed documents need ids")
            if len(doc.page_content) > MAX_TEXT:
                raise InvalidInputError(
                    f"passage {doc.id!r} has {len(doc.page_content)} characters; Milvus holds {MAX_TEXT}"
                )
        for start in range(0, len(documents), _BATCH):
            chunk = documents[start : start + _BATCH]
            if vectors is not None:
                embedded = vectors[start : start + _BATCH]
            else:
                embedded = self.embedder.embed_documents([d.page_content for d in chunk])
            rows = [
                {
                    "id": str(doc.id),
                    "text": doc.page_content,
                    "dense": [float(x) for x in vec],
                    "meta": _json_safe(doc.metadata),
                }
                for doc, vec in zip(chunk, embedded, strict=True)
            ]
            self.client.upsert(self.collection, rows)
            if progress:
                progress("embedding", min(start + _BATCH, len(documents)), len(documents))
        return len(documents)

    def remove(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        present = self.contains(ids)
        if present:
            self.client.delete(self.collection, ids=sorted(present))
        return len(present)

    def save(self) -> None:
        rows = [{"source": src, "record": rec, "unused": [0.0, 0.0]} for src, rec in self.files.items()]
        if rows:
            self.client.upsert(self.files_collection, rows)
        known = {
            str(r["source"])
            for r in self.client.query(self.files_collection, filter='source != ""', output_fields=["source"])
        }
        stale = sorted(known - set(self.files))
        if stale:
            self.client.delete(self.files_collection, ids=stale)
        self.client.flush(self.collection)
        self.client.flush(self.files_collection)

    def retriever(
        self,
        *,
        mode: RetrieverMode = "hybrid",
        top_k: int = 20,
        depth: int = 100,
        rrf_k: int = 60,
        expander: QueryExpander | None = None,
    ) -> MilvusRetriever:
        return MilvusRetriever(self, top_k=top_k, mode=mode, depth=depth, rrf_k=rrf_k, expander=expander)

    # -- search ---------------------------------------------------------------------------------
    def to_document(self, hit: Mapping[str, Any]) -> Document:
        entity = hit.get("entity", hit)
        return Document(
            str(entity.get("text", "")), dict(entity.get("meta") or {}), id=str(hit.get("id", entity.get("id")))
        )

    def search(
        self,
        text: str,
        *,
        vector: np.ndarray | None = None,
        mode: RetrieverMode = "hybrid",
        k: int = 20,
        depth: int = 100,
        rrf_k: int = 60,
    ) -> list[Document]:
        """Top ``k`` documents; in ``hybrid`` mode fused by Milvus's RRF ranker. Each result's
        metadata carries ``retrieval_score`` (and ``retrieval_ranks`` for its own mode)."""
        pymilvus = _pymilvus()
        started = time.perf_counter()
        dense = None
        if mode in ("hybrid", "vector"):
            q = vector if vector is not None else self.embedder.embed_query(text)
            dense = [float(x) for x in q]
        if mode == "hybrid":
            requests = [
                pymilvus.AnnSearchRequest(data=[text], anns_field="sparse", param={}, limit=depth),
                pymilvus.AnnSearchRequest(data=[dense], anns_field="dense", param={"metric_type": "IP"}, limit=depth),
            ]
            hits = self.client.hybrid_search(
                self.collection, requests, ranker=pymilvus.RRFRanker(rrf_k), limit=k, output_fields=["text", "meta"]
            )[0]
        elif mode == "bm25":
            hits = self.client.search(
                self.collection, data=[text], anns_field="sparse", limit=k, output_fields=["text", "meta"]
            )[0]
        else:
            hits = self.client.search(
                self.collection,
                data=[dense],
                anns_field="dense",
                limit=k,
                search_params={"metric_type": "IP"},
                output_fields=["text", "meta"],
            )[0]
        out = []
        for rank, hit in enumerate(hits, start=1):
            doc = self.to_document(hit)
            score = float(hit["distance"])
            doc.score = score
            doc.metadata["retrieval_score"] = score
            doc.metadata["retrieval_ranks"] = {"milvus-rrf" if mode == "hybrid" else mode: rank}
            out.append(doc)
        logger.debug("Milvus %s search: %d hits in %.1f ms", mode, len(out), (time.perf_counter() - started) * 1000)
        return out


def _json_safe(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(metadata), default=str))


def _english_stopwords() -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return list(STOPWORDS_EN)
