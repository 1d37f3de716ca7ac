"""LlamaIndex: :class:`RagRerankPostprocessor`, a node postprocessor (``node_postprocessors=[...]``)."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from rag_core.integrations._shared import build, from_settings, ours
from rag_core.rerankers import BaseReranker

__all__ = ["RagRerankPostprocessor"]


class RagRerankPostprocessor(BaseNodePostprocessor):
    """Reorders retrieved nodes with our reranker and keeps the best ``top_n``; each node's score
    becomes ``rerank_score`` and our keys join its metadata (on a copy of the node)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reranker: Any = Field(exclude=True)
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
    def from_settings(cls, settings: Any, **kwargs: Any) -> RagRerankPostprocessor:
        return cls(from_settings(settings), top_n=kwargs.pop("top_n", settings.reranker_top_n), **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "RagRerankPostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("RagRerankPostprocessor needs the query (a QueryBundle)")
        if not nodes:
            return []
        texts = [n.node.get_content(metadata_mode=MetadataMode.NONE) for n in nodes]
        query = query_bundle.query_str
        result = self.reranker.rerank_sync(query, texts, top_n=self.top_n, instruction=self.instruction)
        out = []
        for doc in result:
            original = nodes[int(doc.metadata["original_rank"]) - 1]
            node = original.node.model_copy(deep=True)
            node.metadata = {**node.metadata, **ours(doc.metadata)}
            node.excluded_embed_metadata_keys = [*node.excluded_embed_metadata_keys, *ours(doc.metadata)]
            node.excluded_llm_metadata_keys = [*node.excluded_llm_metadata_keys, *ours(doc.metadata)]
            out.append(NodeWithScore(node=node, score=float(doc.metadata["rerank_score"])))
        return out
