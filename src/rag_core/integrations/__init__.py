"""Our reranker inside the frameworks people build RAG with, in-process (no HTTP hop):

* LangChain: :class:`RagRerankCompressor`, a ``BaseDocumentCompressor`` (``ContextualCompressionRetriever``),
  sync and async;
* LlamaIndex: :class:`RagRerankPostprocessor`, a ``BaseNodePostprocessor``;
* Haystack 2: :class:`RagRerankRanker`, a ranker ``@component``.

Each wraps any reranker (``reranker=``), or builds one (``reranker_type``, ``model`` and options,
as :class:`~rag_core.rerankers.RerankerFactory` takes them), or the one your settings describe
(``from_settings(AppSettings())``). The framework's metadata is kept and ours is added:
``rerank_score``, ``rerank_raw_score``, ``original_rank``, ``rerank_rank``. Each lives behind the
``frameworks`` extra and is imported only when asked for::

    from rag_core.integrations.langchain import RagRerankCompressor
"""

from __future__ import annotations

__all__: list[str] = []
