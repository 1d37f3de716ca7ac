"""Chinese end to end: index Chinese passages (jieba BM25 + vectors), /query in Chinese, a
multilingual (XLM-RoBERTa) reranker reranks; text comes back byte for byte through every API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rag_core import Document
from rag_core.embeddings import load_embedder
from rag_core.rerankers import CrossEncoderReranker
from rag_core.retrieval import DocumentIndex
from rag_rerank.service import create_app
from rag_rerank.settings import AppSettings

PASSAGES = {
    "zh-paris": "法国的首都是巴黎，塞纳河穿城而过。",
    "zh-beijing": "北京是中国的首都，也是政治和文化中心。",
    "zh-tokyo": "东京是日本的首都。",
    "zh-bread": "面包需要面粉、水和酵母。",
    "zh-nn": "神经网络通过反向传播算法学习权重。",
    "en-paris": "Paris is the capital of France.",
    "emoji": "巴黎🗼 la Ville Lumière — «capitale» de la France",
}


@pytest.fixture(scope="module")
def chinese_client(tmp_path_factory, tiny_xlmr_dir):
    index = DocumentIndex.open(tmp_path_factory.mktemp("zh-index"), load_embedder("builtin:all-MiniLM-L6-v2"))
    index.add_documents([Document(text, {"source": doc_id}, id=doc_id) for doc_id, text in PASSAGES.items()])
    index.save()
    reranker = CrossEncoderReranker(str(tiny_xlmr_dir), backend="torch", precision="float32")
    settings = AppSettings(reranker_cache_url=None, api_key=None, index_name="zh", reranker_ab_ratio=1.0)
    with TestClient(create_app(settings, reranker=reranker, index=index)) as client:
        yield client, reranker, index


def test_bm25_tokenises_chinese_with_jieba(chinese_client):
    _, _, index = chinese_client
    hits = index.retriever(mode="bm25", top_k=3).retrieve_sync("法国的首都")
    assert hits[0].id == "zh-paris"


def test_query_in_chinese_is_retrieved_reranked_and_returned_intact(chinese_client):
    client, reranker, _ = chinese_client
    request = {"query": "法国的首都是哪里", "top_k": 7, "top_n": 7, "return_candidates": True}
    response = client.post("/query", json=request)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["rerank_status"] == "ok"
    returned = {d["id"]: d["text"] for d in body["documents"]}
    assert all(returned[k] == PASSAGES[k] for k in returned)  # not one character changed
    candidates = [d["text"] for d in body["candidates"]]
    expected = reranker.score("法国的首都是哪里", candidates)
    order = sorted(range(len(candidates)), key=lambda i: -expected[i])
    assert [d["text"] for d in body["documents"]] == [candidates[i] for i in order]
    assert body["language_warning"] is None  # a model without an English-only card: no warning


def test_rerank_apis_keep_the_text_byte_for_byte(chinese_client):
    client, _, _ = chinese_client
    texts = list(PASSAGES.values())
    body = client.post(
        "/v1/rerank", json={"query": "首都", "documents": texts, "return_documents": True}
    ).json()
    assert {r["document"]["text"] for r in body["results"]} == set(texts)
    tei = client.post("/rerank", json={"query": "首都", "texts": texts, "return_text": True}).json()
    assert {r["text"] for r in tei} == set(texts)


def test_an_english_model_on_chinese_says_so(small_index, tiny_model_dir, tmp_path):
    """The tiny BERT given an English card: its scores on Chinese are flagged on /query."""
    import shutil

    folder = tmp_path / "english-card"
    shutil.copytree(tiny_model_dir, folder, ignore=shutil.ignore_patterns("onnx"))
    (folder / "README.md").write_text("---\nlanguage: en\nlicense: apache-2.0\n---\n# an English reranker\n")
    reranker = CrossEncoderReranker(str(folder), backend="torch", precision="float32")
    assert reranker.languages == frozenset({"en"})
    settings = AppSettings(reranker_cache_url=None, api_key=None, index_name="test", reranker_ab_ratio=1.0)
    with TestClient(create_app(settings, reranker=reranker, index=small_index)) as client:
        body = client.post("/query", json={"query": "猫是什么动物", "top_k": 5}).json()
        assert "not Han-script" in body["language_warning"]
        health = client.get("/health").json()["reranker"]
        assert health["languages"] == ["en"] and any("Han" in w for w in health["language_warnings"])
        english = client.post("/query", json={"query": "capital of france", "top_k": 5}).json()
        assert english["language_warning"] is None
