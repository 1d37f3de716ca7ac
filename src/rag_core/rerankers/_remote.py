"""A reranker that calls a Cohere-compatible ``/v1/rerank`` over HTTP (ours, Cohere, Jina, a Ray
Serve deployment of ours), so the retrieval tier and the model tier scale apart.

Time-outs per call, retries with exponential backoff on connection errors, 429 and 5xx (a
``Retry-After`` header is honoured, capped), and errors that say which server failed. A 4xx
other than 429 is the caller's fault and is not retried. The service's ``/query`` fails open
around it as it does around a local model.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rag_core._documents import Document
from rag_core._errors import ConfigurationError, InvalidInputError, OverloadedError, RagRerankError
from rag_core.rerankers._base import BaseReranker, DocumentScores
from rag_core.rerankers._fusion import FusionSetting

__all__ = ["RemoteReranker", "RemoteRerankerError"]

logger = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RemoteRerankerError(RagRerankError):
    """The remote reranker could not be reached or answered with an error."""


class RemoteReranker(BaseReranker):
    """Reranks through a Cohere-compatible HTTP API.

    ``url`` is the server's base URL (``http://host:8000``) or the full ``.../v1/rerank``.
    ``relevance_score`` becomes ``rerank_score``; its logit is ``rerank_raw_score``.
    """

    name: ClassVar[str] = "remote"
    #: An instruction goes to the server, whose model decides (ours reports whether it was used).
    takes_instruction = True

    def __init__(
        self,
        model_name: str = "remote",
        top_n: int = 5,
        *,
        url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        batch_size: int | None = None,
        fusion: FusionSetting = "none",
        fusion_weight: float | None = None,
        transport: Any = None,
        async_transport: Any = None,
        instruction: str | None = None,
    ) -> None:
        super().__init__(top_n=top_n, fusion=fusion, fusion_weight=fusion_weight, instruction=instruction)
        if not url:
            raise ConfigurationError("the remote reranker needs RERANKER_URL (the server's base URL)")
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"RERANKER_URL must start with http:// or https://, got {url!r}")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0:
            raise ConfigurationError("timeout_s must be > 0, retries and backoff_s >= 0")
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/rerank") else f"{base}/v1/rerank"
        self._model = model_name
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.batch_size = batch_size
        self._transport = transport
        self._async_transport = async_transport
        self.calls = 0
        self.retried = 0
        #: What the server says scored the last answer (its model, engine and fallback), when it says.
        self.served_by: dict[str, Any] = {}

    @property
    def model_name(self) -> str:
        return self._model

    def describe(self) -> dict[str, Any]:
        info = {**super().describe(), "url": self.endpoint, "timeout_s": self.timeout_s, "retries": self.retries}
        if self.served_by:
            info["served_by"] = dict(self.served_by)
        return info

    def identity(self) -> dict[str, Any]:
        info = super().identity()
        if self.served_by:  # the server is what scores: say what it runs
            info["served_by"] = dict(self.served_by)
        return info

    # -- HTTP ---------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _body(self, query: str, texts: Sequence[str]) -> dict[str, Any]:
        from rag_core.engines import split_instruction

        instruction, query = split_instruction(query)
        body: dict[str, Any] = {"model": self._model, "query": query, "documents": list(texts), "top_n": len(texts)}
        if instruction:  # only when there is one: other Cohere-compatible servers need not know the field
            body["instruction"] = instruction
        return body

    def _delay(self, attempt: int, response: Any) -> float:
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after is not None:
            try:
                return min(self.max_backoff_s, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)

    def _parse(self, response: Any, count: int) -> np.ndarray:
        if response.status_code >= 400:
            message = _message(response)
            if response.status_code in (400, 413, 422):
                raise InvalidInputError(f"the remote reranker refused the request ({response.status_code}): {message}")
            raise RemoteRerankerError(f"{self.endpoint} answered {response.status_code}: {message}")
        try:
            body = response.json()
            results = body["results"]
            self._note_server(body)
            scores = np.full(count, np.nan, dtype=np.float64)
            for item in results:
                scores[int(item["index"])] = float(item["relevance_score"])
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise RemoteRerankerError(
                f"{self.endpoint} answered something that is not a rerank response: {exc}"
            ) from exc
        if np.isnan(scores).any():
            raise RemoteRerankerError(f"{self.endpoint} scored {int((~np.isnan(scores)).sum())} of {count} documents")
        return scores

    def _note_server(self, body: dict[str, Any]) -> None:
        """Our server (and Jina's) name the model that scored; ours also its engine and fallback."""
        found = body.get("meta")
        meta: dict[str, Any] = found if isinstance(found, dict) else {}
        served = {"model": body.get("model") or meta.get("model"), "engine": meta.get("engine")}
        if meta.get("fallback_from"):
            served["fallback_from"] = meta["fallback_from"]
        self.served_by = {k: v for k, v in served.items() if v}

    def _give_up(self, attempt: int, error: str) -> bool:
        if attempt >= self.retries:
            return True
        self.retried += 1
        logger.warning("remote reranker %s: %s; retry %d of %d", self.endpoint, error, attempt + 1, self.retries)
        return False

    def _settle(self, attempt: int, response: Any, error: Exception | None, count: int) -> np.ndarray | float:
        """The scores, or the seconds to wait before the next attempt; raises when giving up."""
        if error is not None:
            if self._give_up(attempt, f"{type(error).__name__}: {error}"):
                raise RemoteRerankerError(f"{self.endpoint} unreachable: {type(error).__name__}: {error}") from error
        elif response.status_code not in _RETRY_STATUSES:
            return self._parse(response, count)
        elif self._give_up(attempt, f"HTTP {response.status_code}"):
            self._raise_final(response)
        return self._delay(attempt, response)

    def _post_sync(self, query: str, texts: Sequence[str]) -> np.ndarray:
        import httpx

        with httpx.Client(timeout=self.timeout_s, transport=self._transport) as client:
            for attempt in range(self.retries + 1):
                self.calls += 1
                response, error = None, None
                try:
                    response = client.post(self.endpoint, json=self._body(query, texts), headers=self._headers())
                except httpx.HTTPError as exc:
                    error = exc
                outcome = self._settle(attempt, response, error, len(texts))
                if isinstance(outcome, np.ndarray):
                    return outcome
                time.sleep(outcome)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post_async(self, query: str, texts: Sequence[str]) -> np.ndarray:
        import httpx

        async with httpx.AsyncClient(timeout=self.timeout_s, transport=self._async_transport) as client:
            for attempt in range(self.retries + 1):
                self.calls += 1
                response, error = None, None
                try:
                    response = await client.post(self.endpoint, json=self._body(query, texts), headers=self._headers())
                except httpx.HTTPError as exc:
                    error = exc
                outcome = self._settle(attempt, response, error, len(texts))
                if isinstance(outcome, np.ndarray):
                    return outcome
                await asyncio.sleep(outcome)
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_final(self, response: Any) -> None:
        message = _message(response)
        if response.status_code in (429, 503):
            retry = response.headers.get("retry-after")
            raise OverloadedError(
                f"the remote reranker {self.endpoint} is overloaded ({response.status_code}): {message}",
                retry_after_s=float(retry) if retry and retry.replace(".", "", 1).isdigit() else 1.0,
            )
        raise RemoteRerankerError(f"{self.endpoint} answered {response.status_code}: {message}")

    # -- BaseReranker -------------------------------------------------------------------------
    def _chunks(self, texts: list[str]) -> list[list[str]]:
        size = self.batch_size or len(texts)
        return [texts[i : i + size] for i in range(0, len(texts), size)]

    def _score_documents(self, query: str, documents: Sequence[Document]) -> DocumentScores:
        texts = [d.page_content for d in documents]
        scores = np.concatenate([self._post_sync(query, chunk) for chunk in self._chunks(texts)])
        return DocumentScores(scores, _logit(scores))

    async def _score_documents_async(
        self, query: str, documents: Sequence[Document], *, deadline: float | None = None
    ) -> DocumentScores:
        texts = [d.page_content for d in documents]
        parts = await asyncio.gather(*(self._post_async(query, chunk) for chunk in self._chunks(texts)))
        scores = np.concatenate(parts)
        return DocumentScores(scores, _logit(scores))


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(clipped) - np.log1p(-clipped)


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body.get("error") or body)[:200]
    return str(body)[:200]
