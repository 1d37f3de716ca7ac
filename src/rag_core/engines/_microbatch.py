"""A micro-batcher: concurrent scoring requests share engine calls, with admission control,
deadlines and cancellation.

* **Merging.** The worker takes the first waiting request, collects more for up to ``wait_ms``,
  and scores up to ``max_pairs`` pairs in one engine call. Requests that queued up while the
  engine was busy are merged without any added wait.
* **Slicing.** A large request is scored ``max_pairs`` at a time, so other requests are not
  stuck behind it and a cancelled one stops at the next slice.
* **Admission control.** Every request has a cost (about one unit per token, see
  :func:`estimate_cost`). ``submit`` refuses a request with :class:`OverloadedError` when the
  work already queued plus its own exceeds ``max_queue_cost``, or would not finish before its
  ``deadline`` at the engine's measured throughput. Refusal is immediate: the caller can answer
  503 with ``Retry-After`` instead of letting clients time out.
* **Cancellation.** Cancelling the returned future (or an ``asyncio`` wrapper of it) takes the
  request's remaining pairs out of the queue: they are never scored. A pair already inside an
  engine call finishes with it.
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

import numpy as np

from rag_core._errors import OverloadedError
from rag_core.engines._base import PairScores, ScoringEngine

__all__ = ["MicroBatcher", "estimate_cost"]

logger = logging.getLogger(__name__)

Pair = tuple[str, str]


def estimate_cost(pairs: Sequence[Pair], *, chars_per_token: float = 4.0, max_pair_cost: int | None = None) -> int:
    """About one unit per token: characters / ``chars_per_token`` plus 3 special tokens a pair,
    each pair capped at ``max_pair_cost`` (what its windows can cost at most)."""
    total = 0
    for query, passage in pairs:
        cost = int((len(query) + len(passage)) / chars_per_token) + 3
        total += cost if max_pair_cost is None else min(cost, max_pair_cost)
    return total


#: Share of the time left before a deadline that admitted engine work may fill: the rest is kept
#: for what the estimate does not see (tokenisation, the event loop, a throughput that drops as
#: the CPU is shared with the HTTP side under load).
ADMISSION_HEADROOM = 0.75


class _Request:
    __slots__ = (
        "cost",
        "deadline",
        "done",
        "future",
        "logits",
        "pair_costs",
        "pairs",
        "released",
        "truncated",
        "windows",
    )

    def __init__(
        self, pairs: Sequence[Pair], pair_costs: list[int], future: Future[PairScores], deadline: float | None = None
    ) -> None:
        self.pairs = pairs
        self.deadline = math.inf if deadline is None else deadline
        self.pair_costs = pair_costs
        self.cost = sum(pair_costs)
        self.future = future
        self.done = 0  # pairs scored so far
        self.released = 0  # cost already given back to the queue budget
        n = len(pairs)
        self.logits = np.zeros(n, dtype=np.float32)
        self.windows = np.ones(n, dtype=np.int64)
        self.truncated = np.zeros(n, dtype=bool)


class MicroBatcher:
    """Serialises all calls to one engine through a worker thread, merging and slicing requests.

    ``cost`` maps a list of pairs to per-pair costs (default: :func:`estimate_cost` per pair);
    ``max_queue_cost`` bounds the cost queued and in flight (None: unbounded); ``max_wait_s``
    refuses a request that would wait longer than that in the queue at the measured throughput
    (an interactive budget: a person gives up long before a batch deadline), None: no budget.
    """

    def __init__(
        self,
        engine: ScoringEngine,
        *,
        wait_ms: float = 2.0,
        max_pairs: int = 256,
        max_queue_cost: int | None = None,
        cost: Callable[[Sequence[Pair]], list[int]] | None = None,
        max_wait_s: float | None = None,
    ) -> None:
        self.engine = engine
        self.max_wait_s = max_wait_s if max_wait_s and max_wait_s > 0 else None
        self.wait_s = max(0.0, wait_ms) / 1000.0
        self.max_pairs = max(1, max_pairs)
        self.max_queue_cost = max_queue_cost
        self._cost = cost or (lambda pairs: [estimate_cost([p]) for p in pairs])
        self._incoming: queue.Queue[_Request | None] = queue.Queue()
        self._active: collections.deque[_Request] = collections.deque()
        self._closed = False
        self._lock = threading.Lock()
        self._pending_cost = 0
        self._throughput: float | None = None  # cost units per second, exponential moving average
        self.engine_calls = 0
        self.requests = 0
        self.rejected = 0
        self.cancelled = 0
        self._thread = threading.Thread(target=self._run, name=f"microbatch-{engine.backend}", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------------------------
    @property
    def pending_cost(self) -> int:
        """Cost queued or being scored right now."""
        return self._pending_cost

    @property
    def throughput(self) -> float | None:
        """Measured cost units per second (None before the first engine call)."""
        return self._throughput

    def seed_throughput(self, cost_per_s: float) -> None:
        """Start from a known rate (the engine choice's measurement, or a test's) instead of
        knowing nothing until the first engine call; later calls refine it."""
        if cost_per_s > 0:
            self._throughput = float(cost_per_s)

    def estimated_wait_s(self, extra_cost: int = 0) -> float | None:
        """Seconds until work queued now (plus ``extra_cost``) is done, at the measured rate."""
        rate = self._throughput
        return None if not rate else (self._pending_cost + extra_cost) / rate

    def submit(self, pairs: Sequence[Pair], *, deadline: float | None = None) -> Future[PairScores]:
        """Queue ``pairs``; the future resolves to their :class:`PairScores` in order.

        ``deadline`` (a ``time.monotonic()`` value) lets admission refuse work that could not
        finish in time. Raises :class:`OverloadedError` when the request is refused.
        """
        future: Future[PairScores] = Future()
        request = _Request(pairs, list(self._cost(pairs)), future, deadline)
        with self._lock:
            if self._closed:
                raise RuntimeError("the micro-batcher is closed")
            ahead = self._pending_cost
            if ahead > 0:  # an idle engine always takes the request: it can only wait on itself
                self._admit(request.cost, ahead, deadline)
            self._pending_cost += request.cost
            self._incoming.put(request)
        future.add_done_callback(lambda _: self._release_rest(request))
        return future

    def check(self, pairs: Sequence[Pair], *, deadline: float | None = None) -> None:
        """Raise :class:`OverloadedError` if :meth:`submit` would refuse ``pairs`` now, without
        queueing anything (a caller with several queues asks each before it submits to any)."""
        cost = sum(self._cost(pairs))
        with self._lock:
            ahead = self._pending_cost
            if ahead > 0:
                self._admit(cost, ahead, deadline)

    def score(self, pairs: Sequence[Pair]) -> PairScores:
        """Blocking scoring through the shared worker."""
        return self.submit(pairs).result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._incoming.put(None)
        self._thread.join(timeout=5)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "engine_calls": self.engine_calls,
            "wait_ms": self.wait_s * 1000,
            "rejected": self.rejected,
            "cancelled": self.cancelled,
            "pending_cost": self._pending_cost,
            "max_queue_cost": self.max_queue_cost,
            "max_wait_s": self.max_wait_s,
            "throughput_cost_per_s": None if self._throughput is None else round(self._throughput, 1),
        }

    # -- admission and accounting -------------------------------------------------------------
    def _admit(self, cost: int, ahead: int, deadline: float | None) -> None:
        rate = self._throughput
        wait = (ahead + cost) / rate if rate else None
        retry = max(1.0, math.ceil(ahead / rate)) if rate else 1.0
        if self.max_queue_cost is not None and ahead + cost > self.max_queue_cost:
            self.rejected += 1
            raise OverloadedError(
                f"reranker queue full: {ahead} tokens queued, this request needs {cost}, "
                f"the limit is {self.max_queue_cost} (RERANKER_MAX_QUEUE_TOKENS)",
                retry_after_s=retry,
            )
        if self.max_wait_s is not None and wait is not None and wait > self.max_wait_s:
            self.rejected += 1
            raise OverloadedError(
                f"reranker busy: about {wait:.1f} s of queued work with this request, over the "
                f"{self.max_wait_s:g} s wait budget (RERANKER_MAX_QUEUE_WAIT_S)",
                retry_after_s=retry,
            )
        if deadline is not None and wait is not None and time.monotonic() + wait / ADMISSION_HEADROOM > deadline:
            self.rejected += 1
            raise OverloadedError(
                f"reranker busy: the queued work ({ahead} tokens) and this request would take about "
                f"{wait:.1f} s, past the request's deadline",
                retry_after_s=retry,
            )

    def _release(self, request: _Request, amount: int) -> None:
        with self._lock:
            amount = min(amount, request.cost - request.released)
            request.released += amount
            self._pending_cost -= amount

    def _release_rest(self, request: _Request) -> None:
        self._release(request, request.cost)

    # -- worker -------------------------------------------------------------------------------
    def _pull(self, block: bool, timeout: float | None = None) -> bool:
        """Move one incoming request to the active list. False only when the batcher is closing
        (the ``None`` sentinel); True otherwise, including when nothing arrived in time."""
        try:
            item = self._incoming.get(block=block, timeout=timeout) if block else self._incoming.get_nowait()
        except queue.Empty:
            return True
        if item is None:
            return False
        self._active.append(item)
        return True

    def _drop_cancelled(self) -> None:
        live = [r for r in self._active if not r.future.done()]
        dropped = len(self._active) - len(live)
        if dropped:
            self.cancelled += dropped
            logger.debug("dropped %d cancelled request(s) from the queue", dropped)
        self._active = collections.deque(live)

    def _gather(self) -> bool:
        """Fill the active list: block for the first request, then collect for ``wait_s``."""
        if not self._active and not self._pull(block=True):
            return False
        while True:  # everything already waiting joins (admission control bounds it)
            before = len(self._active)
            if not self._pull(block=False):
                return False
            if len(self._active) == before:
                break
        deadline = time.monotonic() + self.wait_s
        while sum(len(r.pairs) - r.done for r in self._active) < self.max_pairs:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            before = len(self._active)
            if not self._pull(block=True, timeout=remaining):
                return False
            if len(self._active) == before:
                break
        return True

    def _slice(self) -> list[tuple[_Request, int, int]]:
        """The pairs of the next engine call, as ``(request, start, stop)``.

        Requests whose remaining pairs fit in a fair share of ``max_pairs`` finish in this call
        (so a small request is never stuck behind a large one); the room left goes to the others
        in deadline order (earliest first, then arrival). Deadline order, not round-robin: under
        round-robin every admitted request would finish only when all of them do, so admitting
        one more request could push the earlier ones past their deadlines.
        """
        order = sorted(self._active, key=lambda r: r.deadline)  # stable: arrival order within a deadline
        take = dict.fromkeys(order, 0)
        room = self.max_pairs
        share = max(1, room // max(1, len(order)))
        for request in order:
            remaining = len(request.pairs) - request.done
            if remaining <= share and room > 0:
                take[request] = min(remaining, room)
                room -= take[request]
        for request in order:
            if room <= 0:
                break
            n = min(room, len(request.pairs) - request.done - take[request])
            take[request] += n
            room -= n
        return [(r, r.done, r.done + n) for r, n in take.items() if n > 0 or len(r.pairs) == 0]

    def _run(self) -> None:
        running = True
        while running:
            running = self._gather()
            self._drop_cancelled()
            if not self._active:
                continue
            parts = self._slice()
            pairs = [pair for r, a, b in parts for pair in r.pairs[a:b]]
            slice_cost = sum(sum(r.pair_costs[a:b]) for r, a, b in parts)
            self.engine_calls += 1
            started = time.perf_counter()
            try:
                result = self.engine.score(pairs)
            except BaseException as exc:
                for request, _, _ in parts:
                    self._active.remove(request)
                    self._finish(request, exc)
                continue
            elapsed = max(time.perf_counter() - started, 1e-6)
            rate = slice_cost / elapsed
            self._throughput = rate if self._throughput is None else 0.7 * self._throughput + 0.3 * rate
            offset = 0
            for request, a, b in parts:
                n = b - a
                request.logits[a:b] = result.logits[offset : offset + n]
                request.windows[a:b] = result.windows[offset : offset + n]
                request.truncated[a:b] = result.truncated[offset : offset + n]
                offset += n
                request.done = b
                self._release(request, sum(request.pair_costs[a:b]))
                if request.done == len(request.pairs):
                    self._active.remove(request)
                    self.requests += 1
                    self._finish(request, None)
        # fail whatever is still queued after close()
        for request in list(self._active):
            self._finish(request, RuntimeError("the micro-batcher is closed"))
        while True:
            try:
                item = self._incoming.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._finish(item, RuntimeError("the micro-batcher is closed"))

    @staticmethod
    def _finish(request: _Request, error: BaseException | None) -> None:
        try:
            if error is not None:
                request.future.set_exception(error)
            else:
                request.future.set_result(PairScores(request.logits, request.windows, request.truncated))
        except InvalidStateError:  # cancelled by its caller meanwhile
            pass
