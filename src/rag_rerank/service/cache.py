"""The rerank cache: in-memory LRU by default, Redis when configured; never fatal.

A cached value is the full ranking of one (model, query, document set): the documents' keys
(id, or content hash) with their scores, best first; ``top_n`` is applied on read, so one entry
serves every ``top_n``. If Redis fails or is slow, the request goes on without the cache, the
error is logged and counted, and Redis is left alone for ``cooldown_s`` before the next try.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from rag_core import Document

__all__ = ["CacheLookup", "CachedRanking", "MemoryCache", "RedisCache", "RerankCache", "cache_key"]

logger = logging.getLogger(__name__)

CacheResult = Literal["hit", "miss", "error", "bypass"]


class CachedRanking(NamedTuple):
    """Document keys best first, with their rerank scores and raw scores."""

    keys: list[str]
    scores: list[float]
    raw: list[float]


class CacheLookup(NamedTuple):
    result: CacheResult
    ranking: CachedRanking | None


def cache_key(model: str, query: str, documents: Sequence[Document]) -> str:
    """The spec's key: the model, the query and the sorted document ids (content hash when a
    document has no id), hashed."""
    keys = sorted(d.key for d in documents)
    material = "\x1f".join([model, query, *keys])
    return "rag-rerank:v1:" + hashlib.sha256(material.encode("utf-8")).hexdigest()


def _encode(ranking: CachedRanking) -> str:
    return json.dumps({"k": ranking.keys, "s": ranking.scores, "r": ranking.raw})


def _decode(raw: str | bytes) -> CachedRanking:
    data = json.loads(raw)
    return CachedRanking(list(data["k"]), [float(x) for x in data["s"]], [float(x) for x in data["r"]])


class RerankCache(ABC):
    backend: str = "abstract"

    @abstractmethod
    async def get(self, key: str) -> CacheLookup: ...

    @abstractmethod
    async def set(self, key: str, ranking: CachedRanking) -> bool: ...

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend}


class MemoryCache(RerankCache):
    """A per-process LRU with a TTL."""

    backend = "memory"

    def __init__(self, max_entries: int = 10_000, ttl_s: float = 3600.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, key: str) -> CacheLookup:
        item = self._data.get(key)
        if item is None:
            return CacheLookup("miss", None)
        expires, payload = item
        if expires < time.monotonic():
            del self._data[key]
            return CacheLookup("miss", None)
        self._data.move_to_end(key)
        return CacheLookup("hit", _decode(payload))

    async def set(self, key: str, ranking: CachedRanking) -> bool:
        self._data[key] = (time.monotonic() + self.ttl_s, _encode(ranking))
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
        return True

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "entries": len(self._data), "ttl_s": self.ttl_s}


class RedisCache(RerankCache):
    """Redis (``SETEX``), with short timeouts and a cool-down after a failure."""

    backend = "redis"

    def __init__(self, url: str, ttl_s: int = 3600, *, timeout_s: float = 0.25, cooldown_s: float = 5.0) -> None:
        import redis.asyncio as redis

        self.url = url
        self.ttl_s = ttl_s
        self.cooldown_s = cooldown_s
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False
        )
        self._down_until = 0.0
        self.last_error: str | None = None

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception, action: str) -> None:
        first = self._down_until == 0.0 or self.last_error is None
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._down_until = time.monotonic() + self.cooldown_s
        log = logger.warning if first else logger.debug
        log(
            "Redis cache %s failed (%s); serving without the cache for %.0f s", action, self.last_error, self.cooldown_s
        )

    def _recovered(self) -> None:
        if self.last_error is not None:
            logger.info("Redis cache reachable again")
        self.last_error = None
        self._down_until = 0.0

    async def get(self, key: str) -> CacheLookup:
        if not self._available():
            return CacheLookup("bypass", None)
        try:
            payload = await self._client.get(key)
        except Exception as exc:
            self._failed(exc, "read")
            return CacheLookup("error", None)
        self._recovered()
        return CacheLookup("miss", None) if payload is None else CacheLookup("hit", _decode(payload))

    async def set(self, key: str, ranking: CachedRanking) -> bool:
        if not self._available():
            return False
        try:
            await self._client.set(key, _encode(ranking), ex=self.ttl_s)
        except Exception as exc:
            self._failed(exc, "write")
            return False
        return True

    async def ping(self) -> bool:
        try:
            await self._client.ping()
        except Exception as exc:
            self._failed(exc, "ping")
            return False
        self._recovered()
        return True

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection
            await self._client.aclose()

    def describe(self) -> dict[str, Any]:
        safe_url = self.url.split("@")[-1]
        return {"backend": self.backend, "url": safe_url, "ttl_s": self.ttl_s, "last_error": self.last_error}
