"""Pair scores kept across requests: a follow-up query over the same candidates (the next page,
a refined filter, a retry, the 20-candidate pass after the 100-candidate one) scores only the
passages it has not seen with that query."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from rag_core.engines._base import PairScores

__all__ = ["PairScoreCache"]

Pair = tuple[str, str]
_Entry = tuple[float, int, bool]


def _key(pair: Pair) -> bytes:
    query, passage = pair
    digest = hashlib.blake2b(digest_size=16)
    digest.update(query.encode("utf-8", "surrogatepass"))
    digest.update(b"\x00")
    digest.update(passage.encode("utf-8", "surrogatepass"))
    return digest.digest()


class PairScoreCache:
    """An LRU of (query, passage) → (logit, windows, truncated), for one model and engine (a
    reranker owns one). ``size`` 0 disables it. Thread-safe."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = max(0, int(size))
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def split(self, pairs: Sequence[Pair]) -> tuple[dict[int, _Entry], list[int]]:
        """The cached entries by position, and the positions still to score."""
        if not self.size:
            return {}, list(range(len(pairs)))
        found: dict[int, _Entry] = {}
        missing: list[int] = []
        with self._lock:
            for i, pair in enumerate(pairs):
                key = _key(pair)
                entry = self._entries.get(key)
                if entry is None:
                    missing.append(i)
                else:
                    self._entries.move_to_end(key)
                    found[i] = entry
            self.hits += len(found)
            self.misses += len(missing)
        return found, missing

    def store(self, pairs: Sequence[Pair], scores: PairScores) -> None:
        if not self.size:
            return
        with self._lock:
            for pair, logit, windows, truncated in zip(
                pairs, scores.logits, scores.windows, scores.truncated, strict=True
            ):
                self._entries[_key(pair)] = (float(logit), int(windows), bool(truncated))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    @staticmethod
    def assemble(count: int, found: dict[int, _Entry], missing: list[int], fresh: PairScores | None) -> PairScores:
        """One :class:`PairScores` in input order from cached entries and freshly scored ones."""
        logits = np.empty(count, dtype=np.float32)
        windows = np.empty(count, dtype=np.int64)
        truncated = np.zeros(count, dtype=bool)
        for i, (logit, win, trunc) in found.items():
            logits[i], windows[i], truncated[i] = logit, win, trunc
        if fresh is not None and missing:
            logits[missing] = fresh.logits
            windows[missing] = fresh.windows
            truncated[missing] = fresh.truncated
        return PairScores(logits, windows, truncated)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> dict[str, int]:
        return {"size": self.size, "entries": len(self._entries), "hits": self.hits, "misses": self.misses}
