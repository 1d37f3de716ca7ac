"""RERANKER_TYPE=remote: a reranker tier reached over HTTP, with retries and fail-open, against
real servers on loopback (ours, and one that fails on purpose)."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from rag_core import InvalidInputError, OverloadedError
from rag_core.rerankers import RerankerFactory
from rag_core.rerankers._remote import RemoteReranker, RemoteRerankerError
from rag_rerank.service import create_app
from rag_rerank.settings import AppSettings

DOCS = ["Carson City is the capital city of Nevada.", "Washington, D.C. is the capital of the United States."]
QUERY = "What is the capital of the United States?"


def settings(**overrides) -> AppSettings:
    base = {"reranker_cache_enabled": False, "api_key": None, "index_name": "test"}
    return AppSettings(**{**base, **overrides})


@pytest.fixture
def model_tier(small_index, bi_reranker, live_server):
    config = settings(api_key="tier-key")
    return live_server(create_app(config, reranker=bi_reranker, index=small_index), config)


def flaky_app(failures: int, status: int = 503) -> FastAPI:
    app = FastAPI()
    state = {"calls": 0}

    @app.post("/v1/rerank")
    async def rerank(body: dict) -> JSONResponse:
        state["calls"] += 1
        if state["calls"] <= failures:
            return JSONResponse({"message": "busy"}, status_code=status, headers={"Retry-After": "0"})
        return JSONResponse(
            {"results": [{"index": i, "relevance_score": 0.1 * (i + 1)} for i in range(len(body["documents"]))]}
        )

    app.state.calls = state
    return app


async def test_remote_scores_equal_the_model_tier_and_the_factory_builds_it(model_tier, bi_reranker):
    config = settings(reranker_type="remote", reranker_url=model_tier.url, reranker_api_key="tier-key")
    remote = await RerankerFactory.create_from_settings(config)
    assert isinstance(remote, RemoteReranker)
    expected = bi_reranker.score(QUERY, DOCS)
    assert remote.score(QUERY, DOCS) == pytest.approx(expected, abs=1e-6)
    result = await remote.rerank(QUERY, DOCS, top_n=2)
    assert result[0].page_content == DOCS[1] and result[0].score == pytest.approx(expected[1], abs=1e-6)
    unauthorised = RemoteReranker(url=model_tier.url, retries=0)
    with pytest.raises(RemoteRerankerError, match="401"):
        unauthorised.score(QUERY, DOCS)


def test_retries_with_backoff_on_5xx_then_succeeds(live_server):
    app = flaky_app(failures=2)
    server = live_server(app)
    remote = RemoteReranker(url=server.url, retries=3, backoff_s=0.01)
    assert remote.score("q", ["a", "b"]).tolist() == pytest.approx([0.1, 0.2])
    assert app.state.calls["calls"] == 3 and remote.retried == 2


def test_gives_up_after_the_retries_with_typed_errors(live_server):
    busy = live_server(flaky_app(failures=100, status=503))
    with pytest.raises(OverloadedError, match="overloaded"):
        RemoteReranker(url=busy.url, retries=1, backoff_s=0.01).score("q", ["a"])
    broken = live_server(flaky_app(failures=100, status=500))
    with pytest.raises(RemoteRerankerError, match="500"):
        RemoteReranker(url=broken.url, retries=1, backoff_s=0.01).score("q", ["a"])
    refused = live_server(flaky_app(failures=100, status=422))
    with pytest.raises(InvalidInputError, match="422"):
        RemoteReranker(url=refused.url, retries=5, backoff_s=0.01).score("q", ["a"])
    started = time.perf_counter()
    with pytest.raises(RemoteRerankerError, match="unreachable"):
        RemoteReranker(url="http://127.0.0.1:9", retries=2, backoff_s=0.01, timeout_s=1).score("q", ["a"])
    assert time.perf_counter() - started < 5


def test_query_fails_open_when_the_model_tier_is_down(small_index):
    config = settings(reranker_type="remote", reranker_url="http://127.0.0.1:9", reranker_retries=0)
    with TestClient(create_app(config, index=small_index)) as client:
        body = client.post("/query", json={"query": "capital of france", "top_n": 2}).json()
        assert body["rerank_status"] == "failed" and "unreachable" in body["error"]
        assert [d["retrieval_rank"] for d in body["documents"]] == [1, 2]
        assert client.get("/health").json()["reranker"]["type"] == "remote"
