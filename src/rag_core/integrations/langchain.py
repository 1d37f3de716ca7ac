"""LangChain: :class:`RagRerankCompressor`, a document compressor (``ContextualCompressionRetriever``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor
from langchain_core.documents import Document as LCDocument
from pydantic import ConfigDict, Field

from rag_core.integrations._shared import build, from_settings, ours
from rag_core.rerankers import BaseReranker

__all__ = ["RagRerankCompressor"]


class RagRerankCompressor(BaseDocumentCompressor):
    """Reorders LangChain documents with our reranker and keeps the best ``top_n``.

    >>> compressor = RagRerankCompressor(model="builtin:balanced", top_n=5)
    >>> retriever = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=base)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: BaseReranker = Field(exclude=True)
    top_n: int = 5
    instruction: str | None = None

    def __init__(
        self,
        reranker: BaseReranker | None = None,
        *,
        reranker_type: str = "cross_encoder",
        model: str | None = None,
        top_n: int = 5,
        instruction: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(  # type: ignore[call-arg]  # pydantic fields declared on this class
            reranker=build(reranker, reranker_type, model, options), top_n=top_n, instruction=instruction
        )

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> RagRerankCompressor:
        """The reranker ``settings`` (an ``AppSettings``) describe, as a compressor."""
        return cls(from_settings(settings), top_n=kwargs.pop("top_n", settings.reranker_top_n), **kwargs)

    def _convert(self, documents: Sequence[LCDocument], result: Any) -> list[LCDocument]:
        out = []
        for doc in result:
            original = documents[int(doc.metadata["original_rank"]) - 1]
            out.append(
                LCDocument(
                    page_content=original.page_content,
                    metadata={**original.metadata, **ours(doc.metadata)},
                    id=getattr(original, "id", None),
                )
            )
        return out

    def compress_documents(
        self, documents: Sequence[LCDocument], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[LCDocument]:
        if not documents:
            return []
        result = self.reranker.rerank_sync(
            query, [d.page_content for d in documents], top_n=self.top_n, instruction=self.instruction
        )
        return self._convert(documents, result)

    async def acompress_documents(
        self, documents: Sequence[LCDocument], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[LCDocument]:
        if not documents:
            return []
        result = await self.reranker.rerank(
            query, [d.page_content for d in documents], top_n=self.top_n, instruction=self.instruction
        )
        return self._convert(documents, result)
