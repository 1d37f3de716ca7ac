"""Hostile input and overload: every bad request gets a 4xx with a JSON message, a busy or slow
reranker answers at once (503/504 or fail-open), abandoned work is cancelled, limits hold."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from rag_core.engines import CallableEngine
from rag_core.rerankers import CrossEncoderReranker
from rag_rerank.service import create_app
from rag_rerank.settings import AppSettings


def settings(**overrides) -> AppSettings:
    base = {"reranker_cache_url": None, "api_key": None, "index_name": "test", "reranker_cache_enabled": False}
    return AppSettings(**{**base, **overrides})


def raw_post(client: TestClient, path: str, body: str | bytes) -> httpx.Response:
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return client.post(path, content=data, headers={"Content-Type": "application/json"})


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400"]


@pytest.fixture
def client(small_index, bi_reranker):
    with TestClient(create_app(settings(), reranker=bi_reranker, index=small_index)) as c:
        yield c


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v1/rerank", '{"query": "q", "documents": ["a", "b"], "top_n": %s}'),
        ("/v1/rerank", '{"query": %s, "documents": ["a"]}'),
        ("/v1/rerank", '{"query": "q", "documents": ["a", %s]}'),
        ("/v1/rerank", '{"query": "q", "documents": [{"text": "a", "extra": %s}], "return_documents": true}'),
        ("/query", '{"query": "bread", "top_k": %s}'),
    ],
)
def test_non_finite_numbers_are_a_422_json_error(client, path, template, value):
    response = raw_post(client, path, template.replace("%s", value))
    assert response.status_code == 422, response.text
    body = response.json()
    assert "message" in body and body["detail"]
    assert value.lstrip("-") in body["message"] or "JSON" in body["message"]


@pytest.mark.parametrize(
    ("path", "template", "field"),
    [
        ("/query", '{"query": "bread \\udfff"}', "query"),
        ("/v1/rerank", '{"query": "\\ud800 capital", "documents": ["a"]}', "query"),
        ("/v1/rerank", '{"query": "capital", "documents": ["fine", "bad \\udfff"]}', "documents.1"),
        ("/v1/rerank", '{"query": "capital", "documents": [{"text": "ok", "title": "\\udfff"}]}', "documents.0"),
    ],
)
def test_lone_surrogates_are_a_422_naming_the_field_not_a_reranker_failure(client, path, template, field):
    response = raw_post(client, path, template)
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert ("surrogate" in message or "unicode" in message) and field in message
    metrics = client.get("/metrics").text
    assert "rag_rerank_failures_total{" not in metrics


@pytest.mark.parametrize("top_n", ["true", '"2"', "1.5", "[1]"])
def test_top_n_must_be_a_real_integer(client, top_n):
    body = '{"query": "q", "documents": ["a", "b"], "top_n": @}'.replace("@", top_n)
    response = raw_post(client, "/v1/rerank", body)
    assert response.status_code == 422 and "top_n" in response.json()["message"]


def test_invalid_utf8_and_broken_json_are_4xx_json(client):
    for body in (b'{"query": "\xff\xfe", "documents": ["a"]}', b"{not json", b"", b"[]", b'"just a string"'):
        response = raw_post(client, "/v1/rerank", body)
        assert 400 <= response.status_code < 500, (body, response.status_code)
        assert response.headers["content-type"].startswith("application/json")


def test_request_over_the_token_budget_gets_413_naming_the_limit(small_index, bi_reranker):
    with TestClient(create_app(settings(reranker_max_request_tokens=50), reranker=bi_reranker, index=small_index)) as c:
        response = c.post("/v1/rerank", json={"query": "q", "documents": ["word " * 100]})
        assert response.status_code == 413 and "RERANKER_MAX_REQUEST_TOKENS=50" in response.json()["message"]
        query = c.post("/query", json={"query": "capital", "top_k": 12})
        assert query.status_code == 413 and "top_k" in query.json()["message"]


class SlowEngine(CallableEngine):
    """Takes ``delay`` seconds per call and records every passage it scored."""

    def __init__(self, delay: float) -> None:
        super().__init__(lambda q, p: float(len(set(q.split()) & set(p.split()))))
        self.delay = delay
        self.seen: list[str] = []

    def score(self, pairs):
        time.sleep(self.delay)
        self.seen.extend(p for _, p in pairs)
        return super().score(pairs)


def test_deadline_gives_504_on_rerank_and_fails_open_on_query(small_index):
    engine = SlowEngine(1.0)
    reranker = CrossEncoderReranker(engine=engine, microbatch_wait_ms=0)
    with TestClient(create_app(settings(reranker_timeout_s=0.3), reranker=reranker, index=small_index)) as c:
        response = c.post("/v1/rerank", json={"query": "q", "documents": ["a", "b"]})
        assert response.status_code == 504 and "0.3 s" in response.json()["message"]
        assert engine.seen == []  # answered at the deadline, before the engine had finished
        body = c.post("/query", json={"query": "capital of france", "top_n": 2}).json()
        assert body["rerank_status"] == "timeout" and [d["retrieval_rank"] for d in body["documents"]] == [1, 2]
        assert 'reason="timeout"' in c.get("/metrics").text
    reranker.close()


def test_overload_answers_503_with_retry_after_at_once_and_query_fails_open(small_index):
    engine = SlowEngine(1.5)
    reranker = CrossEncoderReranker(engine=engine, microbatch_wait_ms=0, max_queue_tokens=40)
    app = create_app(settings(reranker_timeout_s=30), reranker=reranker, index=small_index)
    with TestClient(app) as c:
        busy = threading.Thread(target=lambda: c.post("/v1/rerank", json={"query": "q", "documents": ["x " * 100]}))
        busy.start()
        deadline = time.monotonic() + 5
        while reranker.pending_cost == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = c.post("/v1/rerank", json={"query": "q", "documents": ["y " * 100]})
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1, refused.text
        assert "RERANKER_MAX_QUEUE_TOKENS" in refused.json()["message"]
        assert busy.is_alive() and reranker.pending_cost > 0  # refused at once, while the queue was busy
        body = c.post("/query", json={"query": "capital of france", "top_n": 2})
        assert body.json()["rerank_status"] == "overloaded" and "Retry-After" in body.headers
        busy.join(10)
        assert c.post("/v1/rerank", json={"query": "q", "documents": ["z"]}).status_code == 200
    reranker.close()


def test_a_client_that_disconnects_has_its_queued_work_cancelled(small_index, live_server):
    engine = SlowEngine(0.6)
    reranker = CrossEncoderReranker(engine=engine, microbatch_wait_ms=0)
    server = live_server(create_app(settings(), reranker=reranker, index=small_index))

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            blocker = asyncio.ensure_future(http.post("/v1/rerank", json={"query": "q", "documents": ["first"]}))
            await asyncio.sleep(0.2)  # "first" is in the engine
            with pytest.raises(httpx.ReadTimeout):
                await http.post("/v1/rerank", json={"query": "q", "documents": ["abandoned"]}, timeout=0.2)
            assert (await blocker).status_code == 200
            await asyncio.sleep(0.5)
            after = await http.post("/v1/rerank", json={"query": "q", "documents": ["after"]})
            assert after.status_code == 200

    asyncio.run(scenario())
    assert "abandoned" not in engine.seen and engine.seen == ["first", "after"]
    assert 'reason="disconnected"' in httpx.get(f"{server.url}/metrics").text
    reranker.close()


def _raw_http(port: int, payload: bytes, *, read_timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            except TimeoutError:  # the server neither answered nor closed: make the caller's assert fail
                chunks.append(b"<no answer before the client's time-out>")
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def test_server_limits_headers_chunked_bodies_and_slow_clients(small_index, bi_reranker, live_server):
    config = settings(max_body_bytes=2000, http_max_header_bytes=8192, http_max_headers=20, http_body_timeout_s=1.0)
    server = live_server(create_app(config, reranker=bi_reranker, index=small_index), config)

    def chunks():
        for _ in range(10):
            yield b'{"query": "q", "documents": ["' + b"x" * 400 + b'"]}'

    chunked = httpx.post(f"{server.url}/v1/rerank", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413 and "MAX_BODY_BYTES" in chunked.json()["message"]

    big_head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    answer = _raw_http(server.port, big_head)
    assert answer.startswith(b"HTTP/1.1 431") and b"HTTP_MAX_HEADER_BYTES" in answer
    try:  # a 1 MB header: refused; the server may close before the client has sent it all
        status = httpx.get(f"{server.url}/health", headers={"X-Big": "a" * 1_000_000}).status_code
    except httpx.TransportError:
        status = 400
    assert status == 400
    many = httpx.get(f"{server.url}/health", headers={f"X-H{i}": "1" for i in range(30)})
    assert many.status_code == 431 and "HTTP_MAX_HEADERS=20" in many.json()["message"]

    answer = _raw_http(  # a body that never finishes
        server.port,
        b'POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"q',
    )
    assert answer.startswith(b"HTTP/1.1 408") and b"HTTP_BODY_TIMEOUT_S" in answer
    # a request head that never finishes: the server closes the connection (the client's own
    # socket time-out, far longer than HTTP_BODY_TIMEOUT_S, only guards the test from hanging)
    assert _raw_http(server.port, b"POST /v1/rerank HTTP/1.1\r\nHost: x\r\n") == b""
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_every_error_body_is_json_even_for_unknown_routes_and_methods(client):
    for response in (
        client.get("/v1/rerank"),
        client.get("/no/such/page"),
        client.post("/v1/rerank", content=b"query=x", headers={"Content-Type": "text/plain"}),
    ):
        assert 400 <= response.status_code < 500
        json.loads(response.text)


def test_ready_waits_for_a_reranker_that_is_still_starting(small_index):
    class Starting(CrossEncoderReranker):
        state: str | None = "replica still loading"

        async def readiness(self) -> str | None:
            return self.state

    reranker = Starting(engine=CallableEngine(lambda q, p: float(len(p))))
    with TestClient(create_app(settings(), reranker=reranker, index=small_index)) as c:
        starting = c.get("/ready")
        assert starting.status_code == 503 and "replica still loading" in starting.json()["checks"]["reranker"]
        reranker.state = None
        assert c.get("/ready").status_code == 200
