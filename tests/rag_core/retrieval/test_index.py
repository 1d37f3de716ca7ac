from __future__ import annotations

import asyncio
import json

import pytest

from rag_core import ConfigurationError, Document, InvalidInputError
from rag_core.embeddings import load_embedder
from rag_core.retrieval import BM25Retriever, DocumentIndex, HybridRetriever, InMemoryVectorStore, split_text

CORPUS = [
    Document("Neural networks learn their weights with backpropagation and gradient descent.", id="nn"),
    Document("To bake bread you need flour, water, salt and yeast.", id="bread"),
    Document("The Eiffel Tower is in Paris, the capital of France.", id="paris"),
    Document("猫是一种常见的家养宠物，喜欢睡觉。", id="cat-zh"),
    Document("Python's with statement manages context: files are closed automatically.", id="with"),
]


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("builtin:all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def store(embedder):
    s = InMemoryVectorStore(embedder)
    s.add_documents(CORPUS)
    return s


async def test_hybrid_retrieval_fuses_both_and_records_where_each_came_from(store):
    retriever = HybridRetriever(vector_store=store, top_k=3)
    docs = await retriever.retrieve("how do neural networks learn", top_k=3)
    assert docs[0].id == "nn"
    assert set(docs[0].metadata["retrieval_ranks"]) == {"vector", "bm25"}
    assert docs[0].score == pytest.approx(docs[0].metadata["retrieval_score"])
    assert docs[0].score == pytest.approx(1 / 61 + 1 / 61)
    assert CORPUS[0].score is None and "retrieval_ranks" not in CORPUS[0].metadata  # store docs untouched


async def test_modes_and_settings_errors(store):
    bm25_only = HybridRetriever(vector_store=store, mode="bm25", top_k=2)
    docs = await bm25_only.retrieve("bread flour")
    assert docs[0].id == "bread" and set(docs[0].metadata["retrieval_ranks"]) == {"bm25"}
    with pytest.raises(ConfigurationError):
        HybridRetriever(vector_store=None, mode="vector")
    with pytest.raises(InvalidInputError):
        await bm25_only.retrieve("   ")


def test_a_query_with_no_matching_term_gets_nothing_from_bm25():
    bm25 = BM25Retriever.from_documents(CORPUS)
    assert bm25.search("xylophone zeppelin", 5) == []
    assert bm25.search("the of and", 5) == []  # stop words only


def test_empty_index_returns_nothing(embedder):
    assert BM25Retriever().search("anything", 5) == []
    empty = InMemoryVectorStore(embedder)
    assert empty.similarity_search_with_score("anything", 5) == []
    retriever = HybridRetriever(vector_store=empty, bm25=BM25Retriever(), top_k=5)
    assert asyncio.run(retriever.retrieve("anything")) == []


def test_chinese_query_finds_the_chinese_document(store):
    bm25 = BM25Retriever.from_documents(CORPUS)
    hits = bm25.search("家养的猫", 3)
    assert hits and hits[0][0].id == "cat-zh"
    docs = HybridRetriever(vector_store=store, top_k=2).retrieve_sync("宠物猫")
    assert docs[0].id == "cat-zh"


def test_langchain_like_store_is_accepted():
    class FakeLangChainStore:
        def similarity_search_with_score(self, query, k=4):
            from types import SimpleNamespace

            return [(SimpleNamespace(page_content="from langchain", metadata={"id": "lc1"}, id=None), 0.9)][:k]

    retriever = HybridRetriever(vector_store=FakeLangChainStore(), mode="vector", top_k=3)
    docs = retriever.retrieve_sync("q")
    assert docs[0].page_content == "from langchain" and docs[0].id == "lc1"
    with pytest.raises(ConfigurationError, match="BM25"):
        HybridRetriever(vector_store=FakeLangChainStore(), mode="hybrid")


def test_persistence_round_trip_and_incremental_reindex(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Alpha document about neural networks.\n\nSecond paragraph on backprop.")
    (corpus / "b.md").write_text("# Bread\n\nBaking bread needs yeast.")
    (corpus / "c.jsonl").write_text(json.dumps({"id": "j1", "text": "JSON line about Paris", "lang": "en"}) + "\n")
    folder = tmp_path / "index"
    index = DocumentIndex.open(folder, embedder)
    first = index.ingest([corpus])
    assert first["added"] == 3 and first["passages_added"] == len(index) >= 3
    before = index.retriever(top_k=3).retrieve_sync("bread yeast")

    reopened = DocumentIndex.open(folder, embedder)
    assert len(reopened) == len(index)
    after = reopened.retriever(top_k=3).retrieve_sync("bread yeast")
    assert [d.id for d in after] == [d.id for d in before]
    assert [d.score for d in after] == pytest.approx([d.score for d in before])
    assert reopened.documents["j1"].metadata["lang"] == "en"

    again = reopened.ingest([corpus])
    assert again["unchanged"] == 3 and again["passages_added"] == 0

    (corpus / "b.md").write_text("# Pastry\n\nCroissants are made with butter.")
    changed = reopened.ingest([corpus])
    assert changed["changed"] == 1 and changed["passages_removed"] >= 1
    final = DocumentIndex.open(folder, embedder)
    texts = " ".join(d.page_content for d in final.documents.values())
    assert "Croissants" in texts and "yeast" not in texts
    assert final.retriever(mode="bm25", top_k=1).retrieve_sync("croissants butter")[0].page_content.endswith("butter.")


def test_unsupported_and_missing_paths_are_clear_errors(tmp_path, embedder):
    index = DocumentIndex.open(tmp_path / "i", embedder)
    (tmp_path / "x.exe").write_text("nope")
    with pytest.raises(InvalidInputError, match="unsupported"):
        index.ingest([tmp_path / "x.exe"])
    with pytest.raises(InvalidInputError, match="no such file"):
        index.ingest([tmp_path / "missing.txt"])


def test_split_text_overlaps_long_paragraphs_and_handles_cjk():
    words = " ".join(f"w{i}" for i in range(500))
    parts = split_text(words, max_units=200, overlap=40)
    assert len(parts) == 3
    assert parts[0].split()[-40:] == parts[1].split()[:40]
    chinese = "汉" * 450
    assert [len(p) for p in split_text(chinese, max_units=200, overlap=40)] == [200, 200, 130]
