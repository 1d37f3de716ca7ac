"""The micro-batcher under pressure: admission control, slicing, cancellation, deadlines."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from rag_core import DeadlineExceededError, OverloadedError
from rag_core.engines import CallableEngine, MicroBatcher
from rag_core.engines._microbatch import estimate_cost
from rag_core.rerankers import CrossEncoderReranker


class GatedEngine(CallableEngine):
    """Blocks each engine call until released, and records the pairs it saw."""

    def __init__(self) -> None:
        super().__init__(lambda q, p: float(len(p)))
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.seen: list[str] = []

    def score(self, pairs):
        self.entered.set()
        assert self.gate.wait(10), "test gate never opened"
        self.seen.extend(p for _, p in pairs)
        return super().score(pairs)


def test_estimate_cost_counts_about_one_unit_per_token_and_caps_long_pairs():
    assert estimate_cost([("abcd", "efgh" * 10)]) == 11 + 3
    assert estimate_cost([("q", "x" * 100_000)], max_pair_cost=512) == 512


def test_a_full_queue_refuses_at_once_and_an_idle_engine_always_accepts():
    engine = GatedEngine()
    batcher = MicroBatcher(engine, wait_ms=0, max_queue_cost=100)
    huge = [("q", "x" * 4000)]  # ~1000 units, over the whole budget
    first = batcher.submit(huge)  # nothing queued: accepted even though it is over the limit
    assert engine.entered.wait(5)
    queued = batcher.pending_cost
    with pytest.raises(OverloadedError, match="RERANKER_MAX_QUEUE_TOKENS"):
        batcher.check([("q", "small")])  # asking queues nothing
    assert batcher.pending_cost == queued
    with pytest.raises(OverloadedError, match="RERANKER_MAX_QUEUE_TOKENS") as info:
        batcher.submit([("q", "small")])
    # refused at once: while the engine is still held on the first request, not after it
    assert not first.done() and info.value.retry_after_s >= 1
    assert batcher.stats()["rejected"] == 2
    engine.gate.set()
    assert first.result(timeout=5).logits.tolist() == [4000.0]
    assert batcher.pending_cost == 0
    assert batcher.submit([("q", "small")]).result(timeout=5).logits.tolist() == [5.0]
    batcher.close()


def test_work_that_cannot_meet_its_deadline_is_refused_using_the_measured_rate():
    engine = GatedEngine()
    engine.gate.set()
    batcher = MicroBatcher(engine, wait_ms=0, max_pairs=4)
    batcher.score([("q", "warm up the throughput estimate")] * 8)
    assert batcher.throughput and batcher.throughput > 0
    engine.gate.clear()
    engine.entered.clear()
    blocker = batcher.submit([("q", "y" * 400)] * 4)
    assert engine.entered.wait(5)
    rate = batcher.throughput
    needed = batcher.pending_cost / rate
    with pytest.raises(OverloadedError, match="deadline"):
        batcher.submit([("q", "z")], deadline=time.monotonic() + needed / 10)
    far = batcher.submit([("q", "z")], deadline=time.monotonic() + needed * 1000 + 60)
    engine.gate.set()
    assert blocker.result(timeout=5) is not None and far.result(timeout=5).logits.tolist() == [1.0]
    batcher.close()


def test_large_requests_are_sliced_so_small_ones_are_not_stuck_behind_them():
    engine = GatedEngine()
    batcher = MicroBatcher(engine, wait_ms=0, max_pairs=3)
    big = batcher.submit([("q", f"big-{i}") for i in range(9)])
    assert engine.entered.wait(5)  # the first slice of the big request is in the engine
    small = batcher.submit([("q", "small")])
    engine.gate.set()
    assert small.result(timeout=5).logits.tolist() == [5.0]
    result = big.result(timeout=5)
    assert result.logits.tolist() == [float(len(f"big-{i}")) for i in range(9)]
    assert engine.calls >= 3 and all(len(x) <= 3 for x in [engine.seen[i : i + 3] for i in range(0, 9, 3)])
    assert engine.seen.index("small") < engine.seen.index("big-8")  # interleaved, not after the whole request
    batcher.close()


def test_admitted_work_runs_in_deadline_order_not_round_robin():
    # round-robin would finish every admitted request only when all of them are done, so one more
    # admission could push the earlier ones past their deadlines: the soonest deadline goes first
    engine = GatedEngine()
    batcher = MicroBatcher(engine, wait_ms=0, max_pairs=2)
    now = time.monotonic()
    late = batcher.submit([("q", f"late-{i}") for i in range(4)], deadline=now + 60)
    assert engine.entered.wait(5)  # late-0, late-1 are in the engine
    soon = batcher.submit([("q", f"soon-{i}") for i in range(4)], deadline=now + 30)
    other = batcher.submit([("q", f"other-{i}") for i in range(4)], deadline=now + 60)
    engine.gate.set()
    for future in (late, soon, other):
        future.result(timeout=5)
    seen = engine.seen
    assert seen.index("soon-3") < seen.index("late-2") < seen.index("other-0")
    batcher.close()


def test_cancelled_requests_leave_the_queue_and_are_never_scored():
    engine = GatedEngine()
    batcher = MicroBatcher(engine, wait_ms=0, max_pairs=2)
    running = batcher.submit([("q", "running-0"), ("q", "running-1"), ("q", "running-2"), ("q", "running-3")])
    assert engine.entered.wait(5)  # the first slice of 2 is inside the engine
    queued = batcher.submit([("q", "abandoned-0"), ("q", "abandoned-1")])
    assert queued.cancel()
    assert running.cancel()  # its second slice must not run either
    assert batcher.pending_cost == 0  # cancelled work gives its budget back at once
    engine.gate.set()
    assert batcher.score([("q", "after")]).logits.tolist() == [5.0]
    assert engine.seen == ["running-0", "running-1", "after"]
    assert batcher.stats()["cancelled"] >= 1
    batcher.close()


async def test_rerank_deadline_cancels_the_queued_work():
    engine = GatedEngine()
    reranker = CrossEncoderReranker(engine=engine, microbatch_wait_ms=0)
    blocker = asyncio.ensure_future(reranker.rerank("q", ["blocking"], timeout_s=10))
    await asyncio.sleep(0.05)
    with pytest.raises(DeadlineExceededError, match="0.2 s"):
        await reranker.rerank("q", ["late-1", "late-2"], timeout_s=0.2)
    engine.gate.set()
    await blocker
    await asyncio.sleep(0.05)
    assert "late-1" not in engine.seen and reranker.pending_cost == 0
    reranker.close()


def test_windows_per_document_are_capped_and_marked(tiny_model_dir):
    capped = CrossEncoderReranker(str(tiny_model_dir), backend="torch", max_windows=2)
    free = CrossEncoderReranker(str(tiny_model_dir), backend="torch")
    long_doc = "relevant words here " * 200  # ~600 tokens: several 128-token windows
    capped_result = capped.rerank_sync("query", [long_doc, "short"], top_n=2)
    free_result = free.rerank_sync("query", [long_doc, "short"], top_n=2)
    by_text = {d.page_content: d.metadata for d in capped_result}
    assert by_text[long_doc]["rerank_windows"] == 2 and by_text[long_doc]["rerank_truncated"] is True
    assert "rerank_truncated" not in by_text["short"]
    assert {d.page_content: d.metadata["rerank_windows"] for d in free_result}[long_doc] > 2
    assert capped.estimate_cost("query", [long_doc]) <= 2 * 128
    assert np.isfinite([d.score for d in capped_result]).all()
    capped.close()
    free.close()


def test_the_interactive_wait_budget_refuses_what_would_wait_too_long():
    """No clock: the throughput is seeded, the queue is held busy by a gate."""
    import threading

    from rag_core import OverloadedError
    from rag_core.engines import CallableEngine, MicroBatcher

    gate = threading.Event()
    engine = CallableEngine(lambda q, p: (gate.wait(10), 1.0)[1])
    batcher = MicroBatcher(engine, wait_ms=0, max_wait_s=2.0, cost=lambda pairs: [100] * len(pairs))
    batcher.seed_throughput(100.0)  # 100 cost units a second: 1 s per pair of cost 100
    busy = batcher.submit([("q", "p")])  # the engine is now working on it (1 s of work)
    accepted = batcher.submit([("q", "a")])  # 2 s of work ahead of the next one... within the budget
    with pytest.raises(OverloadedError, match="wait budget") as refused:
        batcher.submit([("q", "b")])  # 3 s: over the 2 s budget
    assert refused.value.retry_after_s >= 1 and batcher.rejected == 1
    gate.set()
    assert busy.result(timeout=10).logits[0] == 1.0 and accepted.result(timeout=10).logits[0] == 1.0
    batcher.close()
