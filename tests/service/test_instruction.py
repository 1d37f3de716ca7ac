"""``instruction`` in every API: read by an LLM reranker, ignored (and said so) by a cross-encoder."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rag_core.rerankers import LlmReranker
from rag_rerank.service import create_app
from rag_rerank.settings import AppSettings

DOCS = ["Paris is the capital of France.", "Bread is made from flour.", "猫是一种常见的家养宠物。"]


def settings(**overrides):
    base = {"reranker_cache_url": None, "api_key": None, "index_name": "test", "reranker_ab_ratio": 1.0}
    return AppSettings(**{**base, **overrides})


@pytest.fixture(scope="module")
def llm_client(tiny_qwen3_dir, small_index):
    reranker = LlmReranker(str(tiny_qwen3_dir), precision="float32")
    with TestClient(create_app(settings(), reranker=reranker, index=small_index)) as client:
        yield client, reranker
    reranker.close()


def test_every_rerank_api_passes_the_instruction_to_an_llm(llm_client):
    client, reranker = llm_client
    task = "Find the passage that names a capital city"
    expected = reranker.score("capital of france", DOCS, instruction=task)
    default = reranker.score("capital of france", DOCS)
    assert list(expected) != pytest.approx(list(default), abs=1e-6)  # the instruction changes the scores

    for path in ("/v1/rerank", "/v2/rerank"):
        body = client.post(path, json={"query": "capital of france", "documents": DOCS, "instruction": task}).json()
        assert body["meta"]["instruction_used"] is True and body["meta"]["instruction"] == task
        got = {r["index"]: r["relevance_score"] for r in body["results"]}
        assert got == pytest.approx({i: float(s) for i, s in enumerate(expected)}, abs=1e-6)
    # the cache keeps instructions apart: the same query and documents without one is another ranking
    plain = client.post("/v1/rerank", json={"query": "capital of france", "documents": DOCS}).json()
    assert plain["meta"]["instruction"] == reranker.default_instruction
    got = {r["index"]: r["relevance_score"] for r in plain["results"]}
    assert got == pytest.approx({i: float(s) for i, s in enumerate(default)}, abs=1e-6)

    tei = client.post("/rerank", json={"query": "capital of france", "texts": DOCS, "instruction": task})
    assert tei.status_code == 200 and tei.headers["x-instruction-used"] == "true"
    assert {r["index"]: r["score"] for r in tei.json()} == pytest.approx(
        {i: float(s) for i, s in enumerate(expected)}, abs=1e-6
    )
    query = client.post("/query", json={"query": "capital of france", "top_k": 5, "instruction": task}).json()
    assert query["rerank_status"] in ("ok", "cached") and query["instruction"] == task


def test_a_cross_encoder_ignores_the_instruction_and_says_so(tiny_reranker, small_index):
    with TestClient(create_app(settings(), reranker=tiny_reranker, index=small_index)) as client:
        body = client.post("/v1/rerank", json={"query": "capital", "documents": DOCS, "instruction": "x"}).json()
        assert body["meta"]["instruction_used"] is False and body["meta"]["instruction"] is None
        tei = client.post("/rerank", json={"query": "capital", "texts": DOCS, "instruction": "x"})
        assert tei.headers["x-instruction-used"] == "false"
        query = client.post("/query", json={"query": "capital", "top_k": 5, "instruction": "x"}).json()
        assert query["instruction"] is None


@pytest.mark.parametrize("bad", ["123", '"' + "x" * 2001 + '"', '"bad\\ud800"'])
def test_a_bad_instruction_is_a_422(tiny_reranker, small_index, bad):
    with TestClient(create_app(settings(), reranker=tiny_reranker, index=small_index)) as client:
        body = '{"query": "capital", "documents": ["a", "b"], "instruction": ' + bad + "}"
        response = client.post("/v1/rerank", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422 and "instruction" in response.text
