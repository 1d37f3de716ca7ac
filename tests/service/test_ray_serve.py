"""The service on Ray Serve, for real: a local Ray, the FastAPI app as the ingress and two
reranker replicas with @serve.batch; same endpoints, same scores, same metrics."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from rag_core import Document, OverloadedError
from rag_rerank.service.ray_serve import MAX_QUEUED_REQUESTS, RayServeReranker
from rag_rerank.settings import AppSettings

QUERY = "what is the capital of the united states"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def serve_url(ray_session, tiny_model_dir, small_index, tmp_path_factory):
    import shutil

    from ray import serve

    from rag_rerank.service.ray_serve import build_app

    home = tmp_path_factory.mktemp("serve-home")
    shutil.copytree(small_index.folder, home / "indexes" / "test")
    port = free_port()
    serve.start(
        http_options={"host": "127.0.0.1", "port": port},
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )
    app = build_app(
        {
            "reranker_replicas": 2,
            "reranker_num_cpus": 0.5,
            "ingress_num_cpus": 0.5,
            "reranker_model": str(tiny_model_dir),  # the engine is left to auto: decided once, by the driver
            "reranker_fallback_model": "none",
            "reranker_cache_enabled": False,
            "rag_rerank_home": str(home),
            "index_name": "test",
        }
    )
    serve.run(app, name="rag-rerank", route_prefix="/")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def test_every_replica_scores_with_the_drivers_decision_and_equals_in_process(serve_url, tiny_model_dir, small_index):
    from rag_core.rerankers import RerankerFactory
    from rag_rerank.service.ray_serve import plan_deployment

    # the decision the driver made (cached on this machine), pinned: what an in-process reranker
    # of the same deployment loads too
    plan = plan_deployment(AppSettings(reranker_model=str(tiny_model_dir), reranker_fallback_model="none"))
    assert plan.settings.reranker_backend != "auto" and plan.settings.reranker_precision != "auto"
    local = RerankerFactory.create_from_settings_sync(plan.settings)
    assert local is not None and local.engine_name == plan.identity["engine"]
    documents = [d.page_content for d in small_index.documents.values()]
    expected = local.score(QUERY, documents)
    for _ in range(6):  # until both replicas have answered
        response = httpx.post(f"{serve_url}/v1/rerank", json={"query": QUERY, "documents": documents}, timeout=60)
        assert response.status_code == 200, response.text
        got = {r["index"]: r["relevance_score"] for r in response.json()["results"]}
        assert got == pytest.approx({i: float(s) for i, s in enumerate(expected)}, abs=1e-5)
        assert response.json()["meta"]["engine"] == plan.identity["engine"]
    health = httpx.get(f"{serve_url}/health", timeout=30).json()["reranker"]
    assert health["model"] == str(tiny_model_dir) and health["engine"] == plan.identity["engine"]
    assert health["replicas"] and {r["engine"] for r in health["replicas"]} == {plan.identity["engine"]}
    assert all(r["pid"] and r["cpu"] for r in health["replicas"])
    local.close()


def test_a_fallback_is_named_by_every_replica_and_the_health(tmp_path):
    from rag_rerank.service.ray_serve import plan_deployment

    plan = plan_deployment(
        AppSettings(
            reranker_model=str(tmp_path / "not-a-model"),
            reranker_fallback_model="builtin:fast",
            reranker_backend="torch",
            reranker_precision="float32",
        )
    )
    assert plan.identity["model"] == "builtin:fast" and plan.identity["fallback_from"] == str(tmp_path / "not-a-model")
    assert plan.settings.reranker_model == "builtin:fast" and plan.settings.reranker_fallback_model is None
    reranker = RayServeReranker(handle=None, settings=plan.settings, planned=plan.identity)  # type: ignore[arg-type]
    info = reranker.describe()
    assert info["model"] == "builtin:fast" and info["fallback_from"] == str(tmp_path / "not-a-model")
    assert info["engine"] == "torch-fp32"


def test_both_replicas_answer_and_overload_is_an_immediate_503(serve_url):
    async def burst(n: int) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=serve_url, timeout=60) as http:
            bodies = [{"query": f"capital {i}", "documents": ["Paris is in France.", "Bread rises."]} for i in range(n)]
            return list(await asyncio.gather(*(http.post("/v1/rerank", json=b) for b in bodies)))

    # within the router's queue limit (8 arriving at once, 16 ongoing slots): every request is
    # served, and the router spreads them over both replicas
    for _ in range(4):
        assert {r.status_code for r in asyncio.run(burst(MAX_QUEUED_REQUESTS))} == {200}
        reranker = httpx.get(f"{serve_url}/health", timeout=30).json()["reranker"]
        if reranker["replicas_seen"] == 2:
            break
    assert reranker["type"] == "ray_serve" and reranker["replicas_seen"] == 2
    # beyond it, the answer is a 200 or a 503 with Retry-After (backpressure), never a 5xx or a timeout
    answers = asyncio.run(burst(80))
    assert {r.status_code for r in answers} <= {200, 503}
    assert all("retry-after" in r.headers for r in answers if r.status_code == 503)


def test_query_and_metrics_are_the_single_process_ones(serve_url):
    body = httpx.post(f"{serve_url}/query", json={"query": QUERY, "top_k": 6, "top_n": 3}, timeout=60).json()
    assert body["rerank_status"] == "ok" and len(body["documents"]) == 3
    assert [d["rerank_rank"] for d in body["documents"]] == [1, 2, 3]
    metrics = httpx.get(f"{serve_url}/metrics", timeout=30).text
    for name in ("rag_rerank_request_seconds_bucket", "rag_rerank_pairs_scored_total", "rag_rerank_rerank_seconds"):
        assert name in metrics


class _Refusing:
    """A stand-in for the Reranker deployment's handle: refuses the first ``refusals`` calls
    with Ray's BackPressureError, then answers."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls = 0
        self.score = self

    def remote(self, payload):
        from ray.serve.exceptions import BackPressureError

        self.calls += 1

        async def answer():
            if self.calls <= self.refusals:
                raise BackPressureError(num_queued_requests=8, max_queued_requests=8)
            return {"replica": "r1", "scores": [0.9], "raw": [2.2], "extra": None}

        return answer()


def test_a_refusal_from_ray_s_router_is_retried_then_a_full_queue_is_an_overload():
    settings = AppSettings(reranker_cache_enabled=False)
    docs = [Document(page_content="Paris is in France.")]
    once = RayServeReranker(_Refusing(refusals=1), settings)  # type: ignore[arg-type]
    scores = asyncio.run(once._score_documents_async("capital", docs))
    assert list(scores.scores) == [0.9] and once.handle.calls == 2
    assert once.describe()["backpressure_retries"] == 1
    full = RayServeReranker(_Refusing(refusals=100), settings)  # type: ignore[arg-type]
    with pytest.raises(OverloadedError) as info:
        asyncio.run(full._score_documents_async("capital", docs))
    assert info.value.retry_after_s == 1.0 and full.handle.calls == 3
    # no retry when the request's deadline would pass while waiting
    late = RayServeReranker(_Refusing(refusals=1), settings)  # type: ignore[arg-type]
    with pytest.raises(OverloadedError):
        asyncio.run(late._score_documents_async("capital", docs, deadline=time.monotonic() + 0.001))
    assert late.handle.calls == 1
