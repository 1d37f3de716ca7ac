"""Listwise reranking against a real OpenAI-compatible chat server on 127.0.0.1 (started here):
sliding windows, malformed permutations, errors, retries and time-outs."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from rag_core.rerankers import ListwiseReranker, parse_permutation

QUERY = "capital city of france"
DOCS = [f"filler passage number {i} about cooking" for i in range(25)]
DOCS[3] = "Paris is the capital city of France."
DOCS[21] = "France has Paris as its capital city."  # deep in the list: must rise through the windows


class ChatServer:
    """An OpenAI-compatible /v1/chat/completions that ranks passages by word overlap with the query
    (``mode`` makes it misbehave)."""

    def __init__(self) -> None:
        import uvicorn

        self.mode = "good"
        self.calls = 0
        self.failures_left = 0
        self.bodies: list[dict] = []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request):
            body = await request.json()
            self.calls += 1
            self.bodies.append(body)
            if self.failures_left > 0:
                self.failures_left -= 1
                return JSONResponse({"error": "overloaded"}, status_code=503)
            if self.mode == "slow":
                time.sleep(1.5)
            if self.mode == "garbage":
                return PlainTextResponse("not json at all")
            messages = body["messages"]
            query = re.search(r"Search Query: (.*?)\. ", messages[-1]["content"]).group(1)
            passages = [m["content"] for m in messages if m["role"] == "user" and re.match(r"\[\d+\] ", m["content"])]
            words = set(query.lower().split())
            overlap = [len(words & set(p.lower().replace(".", "").split())) for p in passages]
            order = sorted(range(len(passages)), key=lambda i: (-overlap[i], i))
            answer = " > ".join(f"[{i + 1}]" for i in order)
            if self.mode == "malformed":  # the best two, an invented id, a repeat, and nothing else
                answer = f"Sure! [{order[0] + 1}] > [99] > [{order[0] + 1}] > [{order[1] + 1}]"
            return {"id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]}  # fmt: skip

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def chat():
    server = ChatServer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def reset(chat):
    chat.mode, chat.calls, chat.failures_left, chat.bodies = "good", 0, 0, []


def test_parse_permutation_falls_back_to_input_order_for_what_the_answer_gets_wrong():
    assert parse_permutation("[3] > [1] > [2]", 3) == ([2, 0, 1], 0)
    assert parse_permutation("[2] > [7] > [2] > [0]", 4) == ([1, 0, 2, 3], 3)  # invented, repeated, out of range
    assert parse_permutation("I cannot rank these.", 3) == ([0, 1, 2], 0)
    assert parse_permutation("3 > 1", 3) == ([2, 0, 1], 0)  # bare numbers too


async def test_sliding_windows_bring_a_deep_passage_to_the_top(chat):
    reranker = ListwiseReranker("tiny-chat", url=chat.url, window=10, step=5, top_n=3)
    result = await reranker.rerank(QUERY, DOCS)
    assert {d.page_content for d in result[:2]} == {DOCS[3], DOCS[21]}
    assert chat.calls == len(reranker._windows(len(DOCS))) == 4  # (15,25) (10,20) (5,15) (0,10)
    assert [d.metadata["rerank_rank"] for d in result] == [1, 2, 3]
    assert result[0].metadata["rerank_score"] == 1.0
    sync = reranker.rerank_sync(QUERY, DOCS, top_n=2)
    assert [d.page_content for d in sync] == [d.page_content for d in result[:2]]


async def test_malformed_answers_keep_the_input_order_for_the_rest(chat):
    chat.mode = "malformed"
    reranker = ListwiseReranker("tiny-chat", url=chat.url, window=30, step=30)
    result = await reranker.rerank(QUERY, DOCS, top_n=len(DOCS))
    top = [d.page_content for d in result[:2]]
    assert set(top) == {DOCS[3], DOCS[21]}
    rest = [d.metadata["original_rank"] for d in result[2:]]
    assert rest == sorted(rest)  # unranked passages in their input order
    assert reranker.malformed == 2  # [99] and the repeat


async def test_errors_are_retried_then_a_window_keeps_its_order(chat):
    chat.failures_left = 2
    reranker = ListwiseReranker("tiny-chat", url=chat.url, window=30, step=30, retries=2, backoff_s=0.01)
    result = await reranker.rerank(QUERY, DOCS, top_n=2)
    assert chat.calls == 3 and result[0].page_content in (DOCS[3], DOCS[21])
    chat.mode = "garbage"
    with pytest.raises(Exception, match="every call"):  # nothing usable at all: /query fails open on this
        await reranker.rerank(QUERY, DOCS, top_n=2)


async def test_a_time_out_is_a_failed_window_not_a_hang(chat):
    chat.mode = "slow"
    reranker = ListwiseReranker("tiny-chat", url=chat.url, window=30, step=30, timeout_s=0.3, retries=0)
    started = time.monotonic()
    with pytest.raises(Exception, match="every call"):
        await reranker.rerank(QUERY, DOCS, top_n=2)
    assert reranker.failed_windows == 1 and time.monotonic() - started < 1.4


async def test_the_instruction_and_the_model_reach_the_server(chat):
    reranker = ListwiseReranker("my-llm", url=chat.url + "/v1", api_key="k", window=30, step=30)
    result = await reranker.rerank(QUERY, DOCS, top_n=1, instruction="Rank passages that name a capital first.")
    assert result.stats.instruction == "Rank passages that name a capital first."
    sent = chat.bodies[-1]
    assert sent["model"] == "my-llm" and "name a capital first" in sent["messages"][1]["content"]
