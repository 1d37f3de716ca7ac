"""Stage one: BM25, vector search and their fusion (:class:`HybridRetriever`)."""

from __future__ import annotations

from rag_core.retrieval._analysis import Analyzer
from rag_core.retrieval._bm25 import BM25Retriever
from rag_core.retrieval._chunking import split_text
from rag_core.retrieval._expansion import (
    CallableExpander,
    CompositeExpander,
    Expansion,
    QueryExpander,
    QueryExpansionError,
    RM3Expander,
    RocchioExpander,
    build_expander,
)
from rag_core.retrieval._fusion import FusedItem, reciprocal_rank_fusion
from rag_core.retrieval._hybrid import HybridRetriever, RetrieverMode
from rag_core.retrieval._index import SUPPORTED_SUFFIXES, DocumentIndex, IngestReport, SearchIndex, open_search_index
from rag_core.retrieval._vector_store import (
    InMemoryVectorStore,
    LangChainVectorStore,
    VectorStore,
    as_vector_store,
)

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Analyzer",
    "BM25Retriever",
    "CallableExpander",
    "CompositeExpander",
    "DocumentIndex",
    "Expansion",
    "FusedItem",
    "HybridRetriever",
    "InMemoryVectorStore",
    "IngestReport",
    "LangChainVectorStore",
    "QueryExpander",
    "QueryExpansionError",
    "RM3Expander",
    "RetrieverMode",
    "RocchioExpander",
    "SearchIndex",
    "VectorStore",
    "as_vector_store",
    "build_expander",
    "open_search_index",
    "reciprocal_rank_fusion",
    "split_text",
]


def __getattr__(name: str) -> object:  # the Milvus classes load pymilvus only when asked for
    if name in ("MilvusIndex", "MilvusRetriever", "MilvusVectorStore"):
        from rag_core.retrieval import _milvus

        return getattr(_milvus, name)
    raise AttributeError(name)
