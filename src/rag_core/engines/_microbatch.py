"""A micro-batcher: concurrent scoring requests arriving within a short window share engine calls."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple

import numpy as np

from rag_core.engines._base import PairScores, ScoringEngine

__all__ = ["MicroBatcher"]

logger = logging.getLogger(__name__)


class _Request(NamedTuple):
    pairs: Sequence[tuple[str, str]]
    future: Future[PairScores]


class MicroBatcher:
    """Serialises all calls to one engine through a worker thread and merges concurrent ones.

    The worker takes the first waiting request, then collects more for up to ``wait_ms``
    (or until ``max_pairs``), scores them in one engine call and splits the result back.
    Requests that queue up while the engine is busy are merged without any added wait, so the
    batcher costs at most ``wait_ms`` at low load and raises throughput under load.
    """

    def __init__(self, engine: ScoringEngine, *, wait_ms: float = 2.0, max_pairs: int = 1024) -> None:
        self.engine = engine
        self.wait_s = max(0.0, wait_ms) / 1000.0
        self.max_pairs = max(1, max_pairs)
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self.engine_calls = 0
        self.requests = 0
        self._thread = threading.Thread(target=self._run, name=f"microbatch-{engine.backend}", daemon=True)
        self._thread.start()

    def submit(self, pairs: Sequence[tuple[str, str]]) -> Future[PairScores]:
        """Queue ``pairs`` for scoring; the future resolves to their :class:`PairScores`."""
        future: Future[PairScores] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the micro-batcher is closed")
            self._queue.put(_Request(pairs, future))
        return future

    def score(self, pairs: Sequence[tuple[str, str]]) -> PairScores:
        """Blocking scoring through the shared worker."""
        return self.submit(pairs).result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout=5)

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "engine_calls": self.engine_calls, "wait_ms": self.wait_s * 1000}

    def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        batch = [first]
        size = len(first.pairs)
        deadline = time.monotonic() + self.wait_s
        while size < self.max_pairs:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.pairs)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch, stop = self._collect(first)
            live = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if not live:
                continue
            pairs = [pair for r in live for pair in r.pairs]
            self.requests += len(live)
            self.engine_calls += 1
            try:
                result = self.engine.score(pairs)
            except BaseException as exc:
                for r in live:
                    r.future.set_exception(exc)
                continue
            start = 0
            for r in live:
                stop_at = start + len(r.pairs)
                r.future.set_result(
                    PairScores(
                        np.array(result.logits[start:stop_at]),
                        np.array(result.windows[start:stop_at]),
                        np.array(result.truncated[start:stop_at]),
                    )
                )
                start = stop_at
        # fail whatever is still queued after close()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and item.future.set_running_or_notify_cancel():
                item.future.set_exception(RuntimeError("the micro-batcher is closed"))
