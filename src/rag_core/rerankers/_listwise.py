"""Listwise reranking through an LLM you already run (``RERANKER_TYPE=listwise``): RankGPT's
sliding windows over any OpenAI-compatible ``/v1/chat/completions`` (vLLM, llama.cpp, Ollama,
TGI, OpenAI itself).

The model reads ``window`` passages at a time, numbered ``[1]..[n]``, and answers a permutation
(``[3] > [1] > [2]``). Windows slide from the end of the list to its start by ``step`` passages,
so that a relevant passage deep in the list can rise to the top (RankGPT, Sun et al. 2023).
Answers are parsed defensively: an invented identifier is ignored, a repeated one counts once,
and passages the answer leaves out keep their input order after the ones it ranked. A failed
call (after retries) leaves its window in the input order; if every call fails the error is
raised, so ``/query`` fails open to the retrieval order.

Scores: the final rank becomes ``rerank_score = (n - rank + 1) / n`` (1 for the first) and
``rerank_raw_score = -rank``: an LLM's permutation has no calibrated relevance to report.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from rag_core._documents import Document
from rag_core._errors import ConfigurationError, RagRerankError
from rag_core.rerankers._base import BaseReranker, DocumentScores
from rag_core.rerankers._fusion import FusionSetting

__all__ = ["ListwiseReranker", "parse_permutation"]

logger = logging.getLogger(__name__)

_SYSTEM = "You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query."
_IDS = re.compile(r"\[(\d+)\]|(\d+)")


def parse_permutation(answer: str, count: int) -> tuple[list[int], int]:
    """0-based order of ``count`` passages from a model's answer, and how many identifiers were
    unusable (out of range, repeated). Passages the answer omits follow in input order."""
    seen: list[int] = []
    bad = 0
    for match in _IDS.finditer(answer):
        number = int(match.group(1) or match.group(2))
        index = number - 1
        if not 0 <= index < count or index in seen:
            bad += 1
            continue
        seen.append(index)
    rest = [i for i in range(count) if i not in seen]
    return seen + rest, bad


class RemoteLLMError(RagRerankError):
    """The chat endpoint could not be reached or answered with an error."""


class ListwiseReranker(BaseReranker):
    """RankGPT-style listwise reranking over an OpenAI-compatible chat endpoint (see the module)."""

    name: ClassVar[str] = "listwise"
    takes_instruction = True

    def __init__(
        self,
        model_name: str = "gpt-4o-mini",
        top_n: int = 5,
        *,
        url: str | None = None,
        api_key: str | None = None,
        window: int = 20,
        step: int = 10,
        max_passage_chars: int = 1200,
        timeout_s: float = 30.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        fusion: FusionSetting = "none",
        fusion_weight: float | None = None,
        instruction: str | None = None,
        transport: Any = None,
        async_transport: Any = None,
    ) -> None:
        super().__init__(top_n=top_n, fusion=fusion, fusion_weight=fusion_weight, instruction=instruction)
        if not url or not url.startswith(("http://", "https://")):
            raise ConfigurationError("the listwise reranker needs RERANKER_URL: an OpenAI-compatible base URL")
        if window < 2 or not 1 <= step <= window:
            raise ConfigurationError(f"window must be >= 2 and 1 <= step <= window, got {window} and {step}")
        base = url.rstrip("/")
        if base.endswith("/chat/completions"):
            self.endpoint = base
        elif base.endswith("/v1"):  # an OpenAI client's base_url
            self.endpoint = f"{base}/chat/completions"
        else:
            self.endpoint = f"{base}/v1/chat/completions"
        self._model = model_name
        self.api_key = api_key
        self.window = window
        self.step = step
        self.max_passage_chars = max_passage_chars
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._transport = transport
        self._async_transport = async_transport
        self.calls = 0
        self.malformed = 0  # identifiers the model invented or repeated
        self.failed_windows = 0

    @property
    def model_name(self) -> str:
        return self._model

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "url": self.endpoint,
            "window": self.window,
            "step": self.step,
            "calls": self.calls,
            "malformed_ids": self.malformed,
            "failed_windows": self.failed_windows,
        }

    # -- prompt ---------------------------------------------------------------------------------
    def messages(self, query: str, passages: Sequence[str]) -> list[dict[str, str]]:
        """RankGPT's conversation: the passages one per turn, then the ranking request."""
        from rag_core.engines import split_instruction

        instruction, query = split_instruction(query)
        n = len(passages)
        task = f"{instruction}\n" if instruction else ""
        out = [
            {"role": "system", "content": _SYSTEM},
            {
                "role": "user",
                "content": f"{task}I will provide you with {n} passages, each indicated by number identifier []. "
                f"\nRank the passages based on their relevance to query: {query}.",
            },
            {"role": "assistant", "content": "Okay, please provide the passages."},
        ]
        for i, passage in enumerate(passages, start=1):
            out.append({"role": "user", "content": f"[{i}] {passage[: self.max_passage_chars]}"})
            out.append({"role": "assistant", "content": f"Received passage [{i}]."})
        out.append(
            {
                "role": "user",
                "content": f"Search Query: {query}. \nRank the {n} passages above based on their relevance to the "
                "search query. The passages should be listed in descending order using identifiers. The most "
                "relevant passages should be listed first. The output format should be [] > [], e.g., [1] > [2]. "
                "Only respond with the ranking results, do not say any word or explain.",
            }
        )
        return out

    def _body(self, query: str, passages: Sequence[str]) -> dict[str, Any]:
        return {"model": self._model, "messages": self.messages(query, passages), "temperature": 0}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    @staticmethod
    def _answer(response: Any) -> str:
        if response.status_code >= 400:
            raise RemoteLLMError(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            return str(response.json()["choices"][0]["message"]["content"] or "")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise RemoteLLMError(f"not a chat completion: {exc}") from exc

    def _retryable(self, attempt: int, error: Exception) -> float | None:
        if attempt >= self.retries:
            return None
        return self.backoff_s * 2**attempt * (0.5 + random.random() / 2)

    def _permute_sync(self, query: str, passages: Sequence[str]) -> list[int] | None:
        import httpx

        with httpx.Client(timeout=self.timeout_s, transport=self._transport) as client:
            for attempt in range(self.retries + 1):
                self.calls += 1
                try:
                    response = client.post(self.endpoint, json=self._body(query, passages), headers=self._headers())
                    return self._order(self._answer(response), len(passages))
                except (httpx.HTTPError, RemoteLLMError) as exc:
                    wait = self._retryable(attempt, exc)
                    if wait is None:
                        logger.warning("listwise window of %d failed: %s", len(passages), exc)
                        return None
                    time.sleep(wait)
        return None  # pragma: no cover

    async def _permute_async(self, query: str, passages: Sequence[str]) -> list[int] | None:
        import httpx

        async with httpx.AsyncClient(timeout=self.timeout_s, transport=self._async_transport) as client:
            for attempt in range(self.retries + 1):
                self.calls += 1
                try:
                    response = await client.post(
                        self.endpoint, json=self._body(query, passages), headers=self._headers()
                    )
                    return self._order(self._answer(response), len(passages))
                except (httpx.HTTPError, RemoteLLMError) as exc:
                    wait = self._retryable(attempt, exc)
                    if wait is None:
                        logger.warning("listwise window of %d failed: %s", len(passages), exc)
                        return None
                    await asyncio.sleep(wait)
        return None  # pragma: no cover

    def _order(self, answer: str, count: int) -> list[int]:
        order, bad = parse_permutation(answer, count)
        self.malformed += bad
        return order

    # -- sliding windows ------------------------------------------------------------------------
    def _windows(self, count: int) -> list[tuple[int, int]]:
        """(start, end) from the back of the list to the front, ``step`` apart."""
        spans = []
        end = count
        while True:
            start = max(0, end - self.window)
            spans.append((start, end))
            if start == 0:
                return spans
            end -= self.step

    def _scores(self, ranking: list[int], ok: int, total: int) -> DocumentScores:
        if total and not ok:
            raise RemoteLLMError(f"every call to {self.endpoint} failed ({total} windows)")
        n = len(ranking)
        ranks = np.empty(n, dtype=np.float64)
        ranks[ranking] = np.arange(1, n + 1)
        return DocumentScores((n - ranks + 1) / n, -ranks)

    def _score_documents(self, query: str, documents: Sequence[Document]) -> DocumentScores:
        ranking = list(range(len(documents)))
        spans = self._windows(len(documents))
        ok = 0
        for start, end in spans:
            order = self._permute_sync(query, [documents[i].page_content for i in ranking[start:end]])
            if order is None:
                self.failed_windows += 1
                continue
            ok += 1
            ranking[start:end] = [ranking[start:end][i] for i in order]
        return self._scores(ranking, ok, len(spans))

    async def _score_documents_async(
        self, query: str, documents: Sequence[Document], *, deadline: float | None = None
    ) -> DocumentScores:
        ranking = list(range(len(documents)))
        spans = self._windows(len(documents))
        ok = 0
        for start, end in spans:  # sequential: each window sees the previous one's result
            order = await self._permute_async(query, [documents[i].page_content for i in ranking[start:end]])
            if order is None:
                self.failed_windows += 1
                continue
            ok += 1
            ranking[start:end] = [ranking[start:end][i] for i in order]
        return self._scores(ranking, ok, len(spans))
