"""Our reranker in each framework's own pipeline: a LangChain ContextualCompressionRetriever (sync
and async), a LlamaIndex query engine with a postprocessor, a Haystack pipeline. Each returns our
order, keeps the framework's metadata and adds ours."""

from __future__ import annotations

import numpy as np
import pytest

TEXTS = [
    "Bread is made from flour, water, salt and yeast.",
    "Paris is the capital of France and sits on the Seine.",
    "Espresso is brewed by forcing hot water through coffee grounds.",
    "The capital of France is Paris; its museums draw millions.",
    "Mitochondria produce most of the cell's supply of ATP.",
]
QUERY = "what is the capital of france"


def our_order(reranker, texts, top_n):
    scores = reranker.score(QUERY, texts)
    return [texts[i] for i in np.argsort(-scores, kind="stable")[:top_n]]


def test_langchain_contextual_compression_retriever(tiny_reranker):
    pytest.importorskip("langchain_classic", reason="the frameworks extra is not installed")
    import asyncio

    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    from rag_core.integrations.langchain import RagRerankCompressor

    class ListRetriever(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun):
            return [
                Document(page_content=t, metadata={"source": f"doc-{i}", "tags": ["kb"]}) for i, t in enumerate(TEXTS)
            ]

    compressor = RagRerankCompressor(tiny_reranker, top_n=3)
    retriever = ContextualCompressionRetriever(base_compressor=compressor, base_retriever=ListRetriever())
    docs = retriever.invoke(QUERY)
    assert [d.page_content for d in docs] == our_order(tiny_reranker, TEXTS, 3)
    for rank, doc in enumerate(docs, start=1):
        assert doc.metadata["tags"] == ["kb"] and doc.metadata["source"].startswith("doc-")  # theirs kept
        assert doc.metadata["rerank_rank"] == rank and 0 < doc.metadata["rerank_score"] < 1  # ours added
    async_docs = asyncio.run(retriever.ainvoke(QUERY))
    assert [d.page_content for d in async_docs] == [d.page_content for d in docs]


def test_llamaindex_query_engine_with_the_postprocessor(tiny_reranker, monkeypatch):
    pytest.importorskip("llama_index.core", reason="the frameworks extra is not installed")
    from llama_index.core import Settings, VectorStoreIndex, get_response_synthesizer
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.schema import TextNode

    from rag_core.integrations.llamaindex import RagRerankPostprocessor

    monkeypatch.setattr(Settings, "_llm", MockLLM())  # no LLM call here: response_mode="no_text"
    nodes = [TextNode(text=t, id_=f"n{i}", metadata={"source": f"doc-{i}"}) for i, t in enumerate(TEXTS)]
    index = VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))
    postprocessor = RagRerankPostprocessor(tiny_reranker, top_n=2)
    engine = RetrieverQueryEngine(
        retriever=index.as_retriever(similarity_top_k=5),
        response_synthesizer=get_response_synthesizer(llm=MockLLM(), response_mode="no_text"),
        node_postprocessors=[postprocessor],
    )
    response = engine.query(QUERY)
    got = [n.node.get_content() for n in response.source_nodes]
    assert got == our_order(tiny_reranker, TEXTS, 2)
    top = response.source_nodes[0]
    assert top.score == pytest.approx(top.node.metadata["rerank_score"])
    assert top.node.metadata["source"].startswith("doc-") and top.node.metadata["rerank_rank"] == 1
    assert "rerank_score" not in nodes[0].metadata  # the index's own nodes are not touched


def test_haystack_pipeline_with_the_ranker(tiny_reranker):
    pytest.importorskip("haystack", reason="the frameworks extra is not installed")
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from rag_core.integrations.haystack import RagRerankRanker

    store = InMemoryDocumentStore()
    store.write_documents([Document(content=t, meta={"source": f"doc-{i}"}) for i, t in enumerate(TEXTS)])
    pipeline = Pipeline()
    pipeline.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=5))
    pipeline.add_component("ranker", RagRerankRanker(tiny_reranker, top_k=3))
    pipeline.connect("retriever.documents", "ranker.documents")
    out = pipeline.run({"retriever": {"query": QUERY}, "ranker": {"query": QUERY}})
    docs = out["ranker"]["documents"]
    retrieved = [d.content for d in store.bm25_retrieval(query=QUERY, top_k=5)]
    assert [d.content for d in docs] == our_order(tiny_reranker, retrieved, 3)
    assert docs[0].score == pytest.approx(docs[0].meta["rerank_score"]) and docs[0].meta["source"].startswith("doc-")


def test_components_build_the_reranker_from_a_model_or_the_settings(tiny_model_dir):
    pytest.importorskip("langchain_core", reason="the frameworks extra is not installed")
    from rag_core.integrations.langchain import RagRerankCompressor
    from rag_rerank.settings import AppSettings

    built = RagRerankCompressor(model=str(tiny_model_dir), backend="torch", precision="float32", top_n=2)
    assert built.reranker.model_name == str(tiny_model_dir)
    settings = AppSettings(reranker_model=str(tiny_model_dir), reranker_backend="torch", reranker_top_n=4)
    configured = RagRerankCompressor.from_settings(settings)
    assert configured.top_n == 4 and configured.reranker.model_name == str(tiny_model_dir)
