"""The abstract reranker: validation, ordering, metadata and monitoring shared by every type."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, NamedTuple

import numpy as np

from rag_core._documents import Document, check_text, to_documents
from rag_core._errors import DeadlineExceededError, InvalidInputError
from rag_core.rerankers._fusion import FusionMethod, FusionSetting, fuse_scores
from rag_core.rerankers._results import RerankResult, RerankStats

__all__ = ["BaseReranker", "DocumentScores", "sigmoid"]

logger = logging.getLogger("rag_core.rerankers")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Logistic function in float64, so that close high logits do not collapse to 1.0."""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class DocumentScores(NamedTuple):
    """What a reranker's scoring step returns for one call.

    ``scores`` are the normalised relevance scores (sort key, stored as ``rerank_score``),
    ``raw`` the model's raw outputs, ``extra`` optional per-document metadata to add.
    """

    scores: np.ndarray
    raw: np.ndarray
    extra: list[dict[str, Any]] | None = None


def _label(doc: Document) -> str:
    """How a document is named in logs: its id, else its source, else a content hash."""
    return str(doc.id if doc.id is not None else doc.metadata.get("source") or doc.key)


class BaseReranker(ABC):
    """Reorders documents by relevance to a query.

    Subclasses implement :meth:`_score_documents`; this class validates input, sorts (ties keep
    the input order), cuts to ``top_n``, writes the metadata (``rerank_score``,
    ``original_score``, ``original_rank``, ``rerank_rank``) on new objects, and logs.
    """

    name: ClassVar[str] = "base"
    #: Whether the model reads an instruction (a task description): LLM rerankers do; a
    #: cross-encoder trained without one ignores it (and results say it was not used).
    takes_instruction: bool = False
    #: Set when this reranker replaced a configured model that could not be loaded.
    fallback_from: str | None = None
    fallback_reason: str | None = None
    #: The languages the model reads (from its card); None: multilingual or unknown.
    languages: frozenset[str] | None = None

    def __init__(
        self,
        top_n: int = 5,
        *,
        fusion: FusionSetting = "none",
        fusion_weight: float | None = None,
        instruction: str | None = None,
    ) -> None:
        """``fusion="auto"`` means none here; rerankers whose models carry a recommendation
        (``rag_rerank.json``) resolve it themselves. ``fusion_weight`` None means 0.3.
        ``instruction`` is the default task description for models that read one."""
        self.top_n = self._check_top_n(top_n)
        self.instruction = self._check_instruction(instruction)
        self.language_warnings: dict[str, str] = {}  # script -> the warning, once each
        if fusion == "auto":
            fusion = "none"
        if fusion not in ("none", "rrf", "interpolate"):
            raise InvalidInputError(f"fusion must be auto, none, rrf or interpolate, got {fusion!r}")
        fusion_weight = 0.3 if fusion_weight is None else fusion_weight
        if not 0.0 <= fusion_weight <= 1.0:
            raise InvalidInputError(f"fusion_weight must be within [0, 1], got {fusion_weight!r}")
        self.fusion: FusionMethod = fusion
        self.fusion_weight = float(fusion_weight)
        self._executor: ThreadPoolExecutor | None = None

    # -- to implement -------------------------------------------------------------------------
    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model actually used for scoring."""

    @property
    def backend(self) -> str:
        return self.name

    @property
    def engine_name(self) -> str:
        """How the model runs (``onnx-int8``, ``torch-fp32``, ...; the type for models without an engine)."""
        return self.backend

    def identity(self) -> dict[str, Any]:
        """What actually scores: the model (and the configured one it replaced, if a fallback), the
        engine and whether this CPU runs it natively. ``/health``, ``/query``, the playground's banner
        and each Ray Serve replica report it, so that nobody mistakes a fallback for the real model."""
        info: dict[str, Any] = {"type": self.name, "model": self.model_name, "engine": self.engine_name}
        if self.fallback_from is not None:
            info["fallback_from"] = self.fallback_from
            info["fallback_reason"] = self.fallback_reason
        return info

    @abstractmethod
    def _score_documents(self, query: str, documents: Sequence[Document]) -> DocumentScores:
        """Score ``documents`` (at least one) against ``query``; runs in a worker thread."""

    async def _score_documents_async(
        self, query: str, documents: Sequence[Document], *, deadline: float | None = None
    ) -> DocumentScores:
        """Score off the event loop; one worker thread per reranker serialises model calls.

        ``deadline`` (``time.monotonic()``) lets implementations with a queue refuse work that
        cannot finish in time (:class:`~rag_core.OverloadedError`)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rerank-{self.name}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._score_documents, query, documents)

    # -- public API ---------------------------------------------------------------------------
    def score(
        self, query: str, texts: Sequence[str], *, raw: bool = False, instruction: str | None = None
    ) -> np.ndarray:
        """Normalised relevance scores of ``texts`` for ``query``, in input order (float64);
        ``raw``: the model's raw outputs (logits) instead. No fusion is applied."""
        query, _ = self._with_instruction(self._check_query(query), instruction)
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a list of strings, not a single string")
        docs = to_documents(texts)
        if not docs:
            return np.zeros(0, dtype=np.float64)
        scored = self._score_documents(query, docs)
        return np.asarray(scored.raw if raw else scored.scores, dtype=np.float64)

    def rerank_sync(
        self, query: str, documents: Sequence[Any], top_n: int | None = None, *, instruction: str | None = None
    ) -> RerankResult:
        """Blocking twin of :meth:`rerank`."""
        started = time.perf_counter()
        query, docs, n = self._prepare(query, documents, top_n)
        query, used = self._with_instruction(query, instruction)
        if not docs:
            return self._finish([], DocumentScores(np.zeros(0), np.zeros(0)), n, started, used)
        return self._finish(docs, self._score_documents(query, docs), n, started, used, query)

    async def rerank(
        self,
        query: str,
        documents: Sequence[Any],
        top_n: int | None = None,
        *,
        timeout_s: float | None = None,
        instruction: str | None = None,
    ) -> RerankResult:
        """Rerank ``documents`` for ``query`` and return the best ``top_n`` (default: ``self.top_n``).

        Inputs may be :class:`Document`s, strings, dicts with a text field or LangChain documents;
        they are never mutated. Inference runs off the event loop. With ``timeout_s``, scoring
        that does not finish in time raises :class:`~rag_core.DeadlineExceededError` and its
        queued work is cancelled; a reranker too busy to finish in time may refuse at once with
        :class:`~rag_core.OverloadedError`. Cancelling the call cancels its queued work too.

        ``instruction`` (a task description, e.g. "Given a claim, find abstracts that support or
        refute it") is read by models trained with one (LLM rerankers; the constructor's default
        otherwise); other models ignore it, and ``result.stats.instruction`` says what was used.
        """
        started = time.perf_counter()
        query, docs, n = self._prepare(query, documents, top_n)
        query, used = self._with_instruction(query, instruction)
        if not docs:
            return self._finish([], DocumentScores(np.zeros(0), np.zeros(0)), n, started, used)
        if timeout_s is None:
            scored = await self._score_documents_async(query, docs)
        else:
            if not timeout_s > 0:
                raise InvalidInputError(f"timeout_s must be > 0, got {timeout_s!r}")
            deadline = time.monotonic() + timeout_s
            try:
                scored = await asyncio.wait_for(self._score_documents_async(query, docs, deadline=deadline), timeout_s)
            except TimeoutError:
                raise DeadlineExceededError(
                    f"scoring {len(docs)} documents did not finish within {timeout_s:g} s "
                    "(its queued work was cancelled)"
                ) from None
        return self._finish(docs, scored, n, started, used, query)

    def estimate_cost(self, query: str, texts: Sequence[str]) -> int:
        """About how many tokens scoring ``texts`` against ``query`` costs (for request limits)."""
        from rag_core.engines._microbatch import estimate_cost

        return estimate_cost([(query, t) for t in texts])

    def count_tokens(self, query: str, texts: Sequence[str]) -> int:
        """Tokens scoring ``texts`` against ``query`` uses (exact where the model's tokenizer is
        at hand, else :meth:`estimate_cost`); the ``usage`` that Jina-style clients read."""
        return self.estimate_cost(query, texts)

    def check_admission(self, query: str, documents: Sequence[Document], deadline: float | None = None) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~rag_core.OverloadedError` if this reranker's queue would refuse scoring
        ``documents`` now, without queueing anything (rerankers without a queue never refuse)."""

    @property
    def pending_cost(self) -> int:
        """Estimated tokens queued or being scored right now (0 for rerankers without a queue)."""
        return 0

    def reset_caches(self) -> None:  # noqa: B027 - optional hook
        """Forget scores kept across requests (timing a cold path, or after a model swap)."""

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def readiness(self) -> str | None:
        """None when the reranker can score now, else why not (a remote tier still starting, ...).
        ``/ready`` reports it; an in-process reranker is ready once constructed."""
        return None

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "type": self.name,
            "model": self.model_name,
            "backend": self.backend,
            "engine": self.engine_name,
            "top_n": self.top_n,
        }
        if self.fusion != "none":
            info["fusion"] = {"method": self.fusion, "first_stage_weight": self.fusion_weight}
        if self.fallback_from is not None:
            info["fallback_from"] = self.fallback_from
            info["fallback_reason"] = self.fallback_reason
        info["languages"] = sorted(self.languages) if self.languages is not None else "multilingual or unknown"
        if self.language_warnings:
            info["language_warnings"] = list(self.language_warnings.values())
        return info

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _check_top_n(top_n: Any) -> int:
        if isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)):
            raise InvalidInputError(f"top_n must be a positive integer, got {top_n!r}")
        if top_n < 1:
            raise InvalidInputError(f"top_n must be >= 1, got {top_n}")
        return int(top_n)

    @staticmethod
    def _check_instruction(instruction: Any) -> str | None:
        if instruction is None:
            return None
        if not isinstance(instruction, str):
            raise InvalidInputError(f"instruction must be a string, got {type(instruction).__name__}")
        from rag_core.engines import INSTRUCTION_SEPARATOR

        if INSTRUCTION_SEPARATOR in instruction:
            raise InvalidInputError("instruction must not contain the control character U+001F")
        return check_text(instruction, "instruction").strip() or None

    def _with_instruction(self, query: str, instruction: str | None) -> tuple[str, str | None]:
        """The query to score (with the instruction folded in for models that read one) and the
        instruction used (None: the model takes none, or none was given and it has no default)."""
        instruction = self._check_instruction(instruction) or self.instruction
        if not self.takes_instruction:
            return query, None
        from rag_core.engines import compose_instruction

        return compose_instruction(instruction, query), instruction or self.default_instruction

    @property
    def default_instruction(self) -> str | None:
        """The instruction a model that reads one uses when none is given (its card's default)."""
        return None

    @staticmethod
    def _check_query(query: Any) -> str:
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        if not query.strip():
            raise InvalidInputError("query must not be empty")
        return check_text(query, "query")

    def _prepare(self, query: Any, documents: Any, top_n: Any) -> tuple[str, list[Document], int]:
        query = self._check_query(query)
        n = self.top_n if top_n is None else self._check_top_n(top_n)
        if documents is None:
            raise InvalidInputError("documents must be a list, got None")
        return query, to_documents(documents), n

    @staticmethod
    def card_languages(model_name: str) -> frozenset[str] | None:
        """The languages a model's card (or built-in entry) declares; None when unknown."""
        from rag_core._errors import ModelLoadError
        from rag_core._hub import resolve_model_dir
        from rag_core.models import builtin_languages, model_languages

        declared = builtin_languages(model_name)
        if declared is not None:
            return model_languages(None, declared)
        try:
            return model_languages(resolve_model_dir(model_name))
        except ModelLoadError:
            return None

    def language_gap(self, query: str, texts: Sequence[str] = ()) -> str | None:
        """A warning when the model does not read the query's (or the passages') script, per its
        card; logged once per script, kept in :attr:`language_warnings` (``/health`` shows them)."""
        from rag_core.engines import split_instruction
        from rag_core.models import script_gap

        if self.languages is None:
            return None
        _, query = split_instruction(query)
        sample = " ".join([query, *(t[:200] for t in texts[:5])])
        script = script_gap(self.languages, query) or script_gap(self.languages, sample)
        if script is None:
            return None
        message = (
            f"{self.model_name} reads {', '.join(sorted(self.languages))}, not {script}-script text: its scores on "
            "this query mean little (configure a multilingual model, e.g. RERANKER_MULTILINGUAL_MODEL)"
        )
        if script not in self.language_warnings:
            self.language_warnings[script] = message
            logger.warning(message)
        return message

    def _finish(
        self,
        docs: list[Document],
        scored: DocumentScores,
        top_n: int,
        started: float,
        instruction: str | None = None,
        query: str = "",
    ) -> RerankResult:
        scores = np.asarray(scored.scores, dtype=np.float64)
        if len(scores) != len(docs):
            raise RuntimeError(f"{self.name} returned {len(scores)} scores for {len(docs)} documents")
        fused = None
        first = [d.score for d in docs]
        if self.fusion != "none" and docs and all(s is not None for s in first):
            # only documents that come with first-stage scores (in first-stage order) are fused; a
            # bare list (a Cohere-style /v1/rerank call) has no first stage to fuse with
            first_scores = np.asarray(first, dtype=np.float64)
            fused = fuse_scores(scored.raw, first_scores, method=self.fusion, weight=self.fusion_weight)
        sort_key = np.where(np.isnan(scores), -np.inf, scores if fused is None else fused)
        order = np.argsort(-sort_key, kind="stable")[:top_n]
        results: list[Document] = []
        for new_rank, index in enumerate(order, start=1):
            doc = docs[int(index)]  # already a private copy made by to_documents
            score = float(scores[index])
            doc.metadata["original_score"] = doc.score
            doc.metadata["original_rank"] = int(index) + 1
            doc.metadata["rerank_score"] = score
            doc.metadata["rerank_raw_score"] = float(scored.raw[index])
            doc.metadata["rerank_rank"] = new_rank
            if scored.extra is not None:
                doc.metadata.update(scored.extra[int(index)])
            if fused is not None:  # the ranking key: fused with the first stage (rerank_score is the model's)
                doc.metadata["rerank_fused_score"] = float(fused[index])
                score = float(fused[index])
            doc.score = score
            results.append(doc)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        finite = scores[np.isfinite(scores)]
        top1_changed = bool(len(order) and int(order[0]) != 0)
        stats = RerankStats(
            model=self.model_name,
            backend=self.backend,
            documents=len(docs),
            returned=len(results),
            elapsed_ms=elapsed_ms,
            per_document_ms=elapsed_ms / len(docs) if docs else 0.0,
            top1_changed=top1_changed,
            score_max=float(finite.max()) if len(finite) else None,
            score_min=float(finite.min()) if len(finite) else None,
            score_mean=float(finite.mean()) if len(finite) else None,
            instruction=instruction,
            language_warning=self.language_gap(query, [d.page_content for d in docs]) if query else None,
        )
        if top1_changed:
            logger.info("Reranking changed top result: %s → %s", _label(docs[0]), _label(results[0]))
        if stats.score_max is not None and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "Rerank scores: max=%.4f, min=%.4f, mean=%.4f (%d docs, %.1f ms, %.2f ms/doc)",
                stats.score_max,
                stats.score_min,
                stats.score_mean,
                len(docs),
                elapsed_ms,
                stats.per_document_ms,
            )
        if any(math.isnan(s) for s in scores):
            logger.warning("%s produced NaN scores; those documents were ranked last", self.model_name)
        return RerankResult(results, stats)
