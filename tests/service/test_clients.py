"""The rerank shapes other clients speak, tested with real client libraries over real HTTP:
Hugging Face TEI (``tei-client``) and Jina (``jina-cli``; the ``usage`` field)."""

from __future__ import annotations

import httpx
import pytest

from rag_rerank.service import create_app
from rag_rerank.settings import AppSettings

DOCS = [
    "Carson City is the capital city of Nevada.",
    "Washington, D.C. is the capital of the United States.",
    "Paris is the capital of France.",
]
QUERY = "What is the capital of the United States?"


@pytest.fixture
def server(small_index, bi_reranker, live_server):
    config = AppSettings(reranker_cache_enabled=False, api_key=None, index_name="test")
    return live_server(create_app(config, reranker=bi_reranker, index=small_index), config)


def test_tei_client_reranks_against_us(server, bi_reranker):
    from tei_client import HttpClient

    client = HttpClient(server.url)
    ranked = client.rerank(QUERY, DOCS, return_text=True).ranks
    assert ranked[0].index == 1 and ranked[0].text == DOCS[1]
    assert len(ranked) == 3 and ranked[0].score >= ranked[1].score >= ranked[2].score
    raw_ranked = client.rerank(QUERY, DOCS, raw_scores=True).ranks
    cosine = bi_reranker.score(QUERY, DOCS, raw=True)
    assert raw_ranked[0].score == pytest.approx(float(cosine[1]), abs=1e-5)


def test_tei_errors_have_tei_fields(server):
    response = httpx.post(f"{server.url}/rerank", json={"query": QUERY, "texts": []})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "documents must not be empty" and body["error_type"] == "Validation"
    info = httpx.get(f"{server.url}/info").json()
    assert "reranker" in info["model_type"] and info["model_id"] == "builtin:all-MiniLM-L6-v2"


def test_jina_client_and_usage(server, monkeypatch):
    import jina_cli.api as jina

    monkeypatch.setattr(jina, "API_BASE", server.url)
    results = jina.rerank(QUERY, DOCS, api_key="unused", top_n=2)
    assert results[0]["index"] == 1 and len(results) == 2
    body = httpx.post(f"{server.url}/v1/rerank", json={"query": QUERY, "documents": DOCS, "model": "jina-reranker-v2"})
    usage = body.json()["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] > 3 * 5  # three pairs of query + passage tokens
