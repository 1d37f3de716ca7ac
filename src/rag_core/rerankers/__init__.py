"""Rerankers: reorder retrieved documents by relevance to the query.

>>> from rag_core.rerankers import CrossEncoderReranker
>>> reranker = CrossEncoderReranker(model_name="cross-encoder/ms-marco-MiniLM-L-6-v2", top_n=5)
>>> docs = await reranker.rerank("How do neural networks work?", retrieved_docs, top_n=5)
"""

from __future__ import annotations

from rag_core.rerankers._base import BaseReranker, DocumentScores, sigmoid
from rag_core.rerankers._bi_encoder import BiEncoderReranker
from rag_core.rerankers._colbert import ColbertReranker
from rag_core.rerankers._cross_encoder import DEFAULT_MODEL, CrossEncoderReranker
from rag_core.rerankers._ensemble import EnsembleReranker, combine_signals
from rag_core.rerankers._factory import RerankerFactory
from rag_core.rerankers._listwise import ListwiseReranker, parse_permutation
from rag_core.rerankers._llm import LlmReranker
from rag_core.rerankers._registry import families, get_reranker_class, known_types, register_reranker
from rag_core.rerankers._results import RerankResult, RerankStats

__all__ = [
    "DEFAULT_MODEL",
    "BaseReranker",
    "BiEncoderReranker",
    "ColbertReranker",
    "CrossEncoderReranker",
    "DocumentScores",
    "EnsembleReranker",
    "ListwiseReranker",
    "LlmReranker",
    "RerankResult",
    "RerankStats",
    "RerankerFactory",
    "combine_signals",
    "families",
    "get_reranker_class",
    "known_types",
    "parse_permutation",
    "register_reranker",
    "sigmoid",
]
