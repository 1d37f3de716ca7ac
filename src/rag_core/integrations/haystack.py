"""Haystack 2: :class:`RagRerankRanker`, a ranker component for pipelines."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from haystack import Document, component

from rag_core.integrations._shared import build, from_settings, ours
from rag_core.rerankers import BaseReranker

__all__ = ["RagRerankRanker"]


@component
class RagRerankRanker:
    """Ranks Haystack documents by our reranker (``documents`` in, ``documents`` out, best first).

    >>> pipeline.add_component("ranker", RagRerankRanker(model="builtin:balanced", top_k=5))
    >>> pipeline.connect("retriever.documents", "ranker.documents")
    """

    def __init__(
        self,
        reranker: BaseReranker | None = None,
        *,
        reranker_type: str = "cross_encoder",
        model: str | None = None,
        top_k: int = 5,
        instruction: str | None = None,
        **options: Any,
    ) -> None:
        self._spec = (reranker, reranker_type, model, options)
        self.reranker: BaseReranker | None = reranker
        self.top_k = top_k
        self.instruction = instruction

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> RagRerankRanker:
        return cls(from_settings(settings), top_k=kwargs.pop("top_k", settings.reranker_top_n), **kwargs)

    def warm_up(self) -> None:
        """Load the model (Haystack calls this before the first run)."""
        if self.reranker is None:
            self.reranker = build(*self._spec)

    @component.output_types(documents=list[Document])
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, list[Document]]:
        self.warm_up()
        assert self.reranker is not None
        if not documents:
            return {"documents": []}
        result = self.reranker.rerank_sync(
            query, [d.content or "" for d in documents], top_n=top_k or self.top_k, instruction=self.instruction
        )
        ranked = []
        for doc in result:
            original = documents[int(doc.metadata["original_rank"]) - 1]
            meta = {**original.meta, **ours(doc.metadata)}
            ranked.append(replace(original, meta=meta, score=float(doc.metadata["rerank_score"])))
        return {"documents": ranked}
