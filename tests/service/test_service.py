"""The service over the ASGI test client and over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi.testclient import TestClient

from rag_core.engines import CallableEngine
from rag_core.rerankers import CrossEncoderReranker
from rag_rerank.service import create_app
from rag_rerank.settings import AppSettings


def settings(**overrides) -> AppSettings:
    base = {"reranker_cache_url": None, "api_key": None, "index_name": "test", "reranker_ab_ratio": 1.0}
    return AppSettings(**{**base, **overrides})


@pytest.fixture
def client(small_index, bi_reranker):
    with TestClient(create_app(settings(), reranker=bi_reranker, index=small_index)) as c:
        yield c


def metric(client: TestClient, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_query_retrieves_then_reranks(client):
    response = client.post("/query", json={"query": "how do I catch an exception", "top_k": 8, "top_n": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rerank_status"] == "ok" and body["variant"] == "B_with_reranker"
    assert len(body["documents"]) == 3
    top = body["documents"][0]
    assert top["id"] == "py-1"
    assert [d["rerank_rank"] for d in body["documents"]] == [1, 2, 3]
    scores = [d["rerank_score"] for d in body["documents"]]
    assert scores == sorted(scores, reverse=True)
    assert all(d["retrieval_score"] > 0 and d["retrieval_rank"] >= 1 for d in body["documents"])
    assert body["reranker"]["type"] == "bi_encoder"
    assert body["timings"]["retrieval_ms"] > 0 and body["timings"]["rerank_ms"] > 0
    assert metric(client, "rag_rerank_pairs_scored_total") == 8


def test_bi_encoder_reuses_the_index_vectors(client, bi_reranker):
    before = bi_reranker.reused_vectors
    client.post("/query", json={"query": "photosynthesis", "top_k": 6, "top_n": 2})
    assert bi_reranker.reused_vectors - before == 6


def test_health_ready_metrics_and_docs(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["reranker"]["model"] == "builtin:all-MiniLM-L6-v2"
    assert health["index"]["passages"] == 12
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"reranker": "ok", "index": "ok", "cache": "ok"}
    client.post("/query", json={"query": "capital of france"})
    text = client.get("/metrics").text
    for name in (
        "rag_rerank_request_seconds_bucket",
        "rag_rerank_cache_total",
        "rag_rerank_batch_documents",
        "rag_rerank_score_bucket",
        "rag_rerank_query_requests_total",
    ):
        assert name in text
    assert 'route="/query"' in text
    schema = client.get("/openapi.json").json()
    assert "/query" in schema["paths"] and "/v1/rerank" in schema["paths"]
    assert "examples" in str(schema["components"]["schemas"]["QueryRequest"])
    assert client.get("/docs").status_code == 200


def test_disabled_reranker_returns_the_retrieval_order(small_index):
    app = create_app(settings(reranker_enabled=False), reranker=None, index=small_index)
    with TestClient(app) as c:
        body = c.post("/query", json={"query": "capital city", "top_n": 2}).json()
        assert body["rerank_status"] == "disabled" and body["reranker"] is None
        assert [d["retrieval_rank"] for d in body["documents"]] == [1, 2]
        assert all(d["rerank_score"] is None for d in body["documents"])
        assert c.post("/v1/rerank", json={"query": "q", "documents": ["a"]}).status_code == 503


def test_cache_hit_and_ttl_expiry(small_index, bi_reranker):
    app = create_app(settings(reranker_cache_ttl=1), reranker=bi_reranker, index=small_index)
    with TestClient(app) as c:
        request = {"query": "photosynthesis in plants", "top_n": 2}
        first = c.post("/query", json=request).json()
        second = c.post("/query", json=request).json()
        assert (first["rerank_status"], second["rerank_status"]) == ("ok", "cached")
        assert [d["id"] for d in first["documents"]] == [d["id"] for d in second["documents"]]
        assert [d["rerank_score"] for d in first["documents"]] == [d["rerank_score"] for d in second["documents"]]
        wider = c.post("/query", json={**request, "top_n": 4}).json()  # one entry serves any top_n
        assert wider["rerank_status"] == "cached" and len(wider["documents"]) == 4
        assert metric(c, "rag_rerank_cache_total", result="hit") == 2
        time.sleep(1.1)
        assert c.post("/query", json=request).json()["rerank_status"] == "ok"


def test_redis_cache_is_shared_and_survives_redis_dying(small_index, bi_reranker, redis_server):
    config = settings(reranker_cache_url=redis_server.url)
    request = {"query": "what is the capital of the united states", "top_n": 2}
    with TestClient(create_app(config, reranker=bi_reranker, index=small_index)) as a:
        assert a.post("/query", json=request).json()["rerank_status"] == "ok"
    with TestClient(create_app(config, reranker=bi_reranker, index=small_index)) as b:
        assert b.post("/query", json=request).json()["rerank_status"] == "cached"  # another process' entry
        assert b.get("/health").json()["cache"]["backend"] == "redis"
        redis_server.stop()
        response = b.post("/query", json={**request, "query": "capital of nevada"})
        assert response.status_code == 200
        assert response.json()["rerank_status"] == "ok"
        assert metric(b, "rag_rerank_cache_total", result="error") == 1
        again = b.post("/query", json={**request, "query": "capital of france"})
        assert again.status_code == 200 and again.json()["rerank_status"] == "ok"
        assert metric(b, "rag_rerank_cache_total", result="bypass") == 1  # cool-down: Redis not retried yet
        ready = b.get("/ready").json()
        assert ready["ready"] is True and ready["checks"]["cache"].startswith("unreachable")


def test_ab_assignment_is_deterministic_per_user_and_splits_traffic(small_index, bi_reranker):
    app = create_app(settings(reranker_ab_ratio=0.5), reranker=bi_reranker, index=small_index)
    with TestClient(app) as c:
        variants = {}
        for n in range(40):
            body = c.post("/query", json={"query": "bread", "top_n": 1, "user_id": f"user-{n}"}).json()
            variants[n] = body["variant"]
            assert body["rerank_status"] == ("skipped" if body["variant"] == "A_no_reranker" else body["rerank_status"])
        assert 8 <= sum(v == "B_with_reranker" for v in variants.values()) <= 32
        for n in range(10):
            again = c.post("/query", json={"query": "coffee", "user_id": f"user-{n}"}).json()
            assert again["variant"] == variants[n]
        assert metric(c, "rag_rerank_query_requests_total", variant="A_no_reranker", status="skipped") > 0


def test_reranker_failure_fails_open_on_query_and_503_on_rerank(small_index):
    def broken(query: str, passage: str) -> float:
        raise RuntimeError("model exploded")

    reranker = CrossEncoderReranker(engine=CallableEngine(broken, model_name="broken"))
    with TestClient(create_app(settings(), reranker=reranker, index=small_index)) as c:
        body = c.post("/query", json={"query": "capital of france", "top_n": 3}).json()
        assert body["rerank_status"] == "failed" and "model exploded" in body["error"]
        assert [d["retrieval_rank"] for d in body["documents"]] == [1, 2, 3]
        response = c.post("/v1/rerank", json={"query": "q", "documents": ["a", "b"]})
        assert response.status_code == 503
        assert metric(c, "rag_rerank_failures_total", route="/query") == 1
        assert metric(c, "rag_rerank_failures_total", route="/v1/rerank") == 1


def test_api_key(small_index, bi_reranker):
    app = create_app(settings(api_key="s3cret"), reranker=bi_reranker, index=small_index)
    with TestClient(app) as c:
        assert c.post("/query", json={"query": "bread"}).status_code == 401
        assert c.post("/query", json={"query": "bread"}, headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = c.post("/query", json={"query": "bread"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/health").status_code == 200  # liveness stays open


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/query", {"query": ""}, "query"),
        ("/query", {"query": "   "}, "query must not be empty"),
        ("/query", {"query": "x", "top_n": 0}, "top_n"),
        ("/query", {"query": 5}, "query"),
        ("/query", {"query": "x", "surprise": 1}, "surprise"),
        ("/v1/rerank", {"query": "x", "documents": []}, "documents must not be empty"),
        ("/v1/rerank", {"query": "x", "documents": ["a"], "top_n": 0}, "top_n"),
        ("/v1/rerank", {"query": "x", "documents": "not a list"}, "documents"),
        ("/v1/rerank", {"query": "x", "documents": [{"title": "no text"}]}, "text"),
        ("/v1/rerank", {"query": "x", "documents": ["a"] * 6}, "RERANKER_MAX_DOCUMENTS=5"),
        ("/v1/rerank", {"query": "x", "documents": ["a" * 101]}, "RERANKER_MAX_DOCUMENT_CHARS=100"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_message(small_index, bi_reranker, path, body, fragment):
    config = settings(reranker_max_documents=5, reranker_max_document_chars=100)
    with TestClient(create_app(config, reranker=bi_reranker, index=small_index)) as c:
        response = c.post(path, json=body)
    assert response.status_code == 422, response.text
    assert fragment in response.text


def test_oversized_and_malformed_bodies(small_index, bi_reranker):
    with TestClient(create_app(settings(max_body_bytes=1000), reranker=bi_reranker, index=small_index)) as c:
        big = c.post("/v1/rerank", json={"query": "x", "documents": ["y" * 2000]})
        assert big.status_code == 413 and "MAX_BODY_BYTES" in big.text
        broken = c.post("/query", content=b"{not json", headers={"Content-Type": "application/json"})
        assert broken.status_code == 422


def test_cohere_clients_work_unchanged_over_real_http(small_index, bi_reranker, live_server):
    import cohere

    server = live_server(create_app(settings(), reranker=bi_reranker, index=small_index))
    documents = [
        "Carson City is the capital city of Nevada.",
        "Washington, D.C. is the capital of the United States.",
        "Paris is the capital of France.",
    ]
    v1 = cohere.Client(api_key="unused", base_url=server.url)
    response = v1.rerank(
        model="rerank-english-v3.0",
        query="What is the capital of the United States?",
        documents=documents,
        top_n=2,
        return_documents=True,
    )
    assert response.results[0].index == 1
    assert response.results[0].document.text == documents[1]
    assert 0 < response.results[1].relevance_score < response.results[0].relevance_score <= 1
    v2 = cohere.ClientV2(api_key="unused", base_url=server.url)
    response2 = v2.rerank(
        model="rerank-v3.5", query="What is the capital of the United States?", documents=documents, top_n=1
    )
    assert response2.results[0].index == 1
    plain = httpx.post(f"{server.url}/query", json={"query": "espresso coffee", "top_n": 1}, timeout=30)
    assert plain.status_code == 200 and plain.json()["documents"][0]["id"] == "food-2"


def test_loadtest_against_a_real_server_counts_requests_and_cache_use(small_index, bi_reranker, live_server):
    import asyncio

    from rag_rerank.cli._loadtest import _run

    server = live_server(create_app(settings(), reranker=bi_reranker, index=small_index))
    distinct = asyncio.run(_run(server.url, "query", 2, 1.5, 3, 5, None, 10.0, distinct=True))
    assert distinct["requests"] > 0 and distinct["errors"] == 0
    assert set(distinct["rerank_status"]) == {"ok"}  # every request missed the cache
    repeated = asyncio.run(_run(server.url, "query", 2, 1.5, 3, 5, None, 10.0, distinct=False))
    assert repeated["rerank_status"].get("cached", 0) > 0
    rerank = asyncio.run(_run(server.url, "rerank", 2, 1.0, 3, 5, None, 10.0))
    assert rerank["ok"] > 0 and rerank["errors"] == 0 and rerank["p50_ms"] > 0
