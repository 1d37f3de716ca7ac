"""An ensemble reranker: several rerankers (a cross-encoder, late interaction, a bi-encoder) and
the first stage, combined per query after normalisation, with weights that adapt to how much each
signal agrees with the others on that query.

Why: no single model ranks best everywhere. On web search (TREC DL) the cross-encoder leads; on
scientific claims (SciFact) late interaction and the bi-encoder lead, and a cross-encoder distilled
on web data falls below BM25. Combining them keeps most of each one's strength on every domain.

How a query's candidates are scored:

1. every member scores them (concurrently; each keeps its own caches: a passage's ColBERT vectors
   and bi-encoder vector are computed once), and the first stage's scores come with the documents
   (``/query``'s hybrid scores, a run's BM25 scores; none for a bare list);
2. each signal is standardised over the query's candidates (z-scores), so scales do not matter;
3. each signal's weight is its prior weight times its agreement with the others on this query:
   the prior-weighted mean of its Spearman correlations with each other signal (each floored at
   0), to the power ``agreement_gamma``. A signal that contradicts the others on a query (a model
   out of its depth on that topic) loses its say on that query; no labels are needed;
4. the final score is the weighted mean of the z-scores; ``rerank_score`` is its sigmoid.

The priors and ``agreement_gamma`` were chosen on the tuning sets (TREC DL20 and the even-numbered
half of SciFact's test queries), never on DL19 or SciFact's odd half; the choice and the
measurements are in the built-in ensemble's card. Each document's metadata carries every signal
(``rerank_signals``) and the weights used (``rerank_weights``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rag_core._documents import Document
from rag_core._errors import ConfigurationError, DeadlineExceededError
from rag_core.rerankers._base import BaseReranker, DocumentScores, sigmoid
from rag_core.rerankers._fusion import FusionSetting

__all__ = ["EnsembleReranker", "combine_signals"]

logger = logging.getLogger(__name__)

FIRST_STAGE = "first_stage"


def _z(values: np.ndarray) -> np.ndarray:
    finite = np.where(np.isfinite(values), values, np.nan)
    if np.all(np.isnan(finite)):
        return np.zeros(len(values))
    filled = np.where(np.isnan(finite), np.nanmin(finite), finite)
    spread = float(filled.std())
    return (filled - filled.mean()) / spread if spread > 1e-12 else np.zeros(len(values))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    value = float(np.corrcoef(ra, rb)[0, 1])
    return 0.0 if np.isnan(value) else value


def combine_signals(
    signals: Mapping[str, np.ndarray], priors: Mapping[str, float], *, agreement_gamma: float = 2.0
) -> tuple[np.ndarray, dict[str, float]]:
    """The ensemble's score of each candidate (weighted mean of z-scores) and the weights used."""
    names = [n for n in signals if priors.get(n, 0.0) > 0]
    if not names:
        raise ConfigurationError("an ensemble needs at least one signal with a positive weight")
    z = {n: _z(np.asarray(signals[n], dtype=np.float64)) for n in names}
    weights: dict[str, float] = {}
    for name in names:
        if agreement_gamma <= 0 or len(names) == 1:
            weights[name] = priors[name]
            continue
        others = [o for o in names if o != name]
        agreement = sum(priors[o] * max(_spearman(z[name], z[o]), 0.0) for o in others) / sum(priors[o] for o in others)
        weights[name] = priors[name] * agreement**agreement_gamma
    total = sum(weights.values())
    if total <= 0:  # every signal disagrees with the rest: fall back to the priors
        weights = {n: priors[n] for n in names}
        total = sum(weights.values())
    fused = np.sum([z[n] * (weights[n] / total) for n in names], axis=0)
    return fused, {n: weights[n] / total for n in names}


class EnsembleReranker(BaseReranker):
    """Combines member rerankers and the first stage (see the module docstring).

    ``members`` maps a name to ``(reranker, prior weight)``; or ``model_name`` names a folder (or
    ``builtin:ensemble``) whose ``rag_rerank.json`` describes the members, built with the factory.
    """

    name: ClassVar[str] = "ensemble"

    def __init__(
        self,
        model_name: str = "builtin:ensemble",
        top_n: int = 5,
        *,
        members: Mapping[str, tuple[BaseReranker, float]] | None = None,
        first_stage_weight: float | None = None,
        agreement_gamma: float | None = None,
        fusion: FusionSetting = "none",
        fusion_weight: float | None = None,
        instruction: str | None = None,
        **member_options: Any,
    ) -> None:
        super().__init__(top_n=top_n, fusion="none" if fusion == "auto" else fusion, fusion_weight=fusion_weight,
                         instruction=instruction)  # fmt: skip
        spec: dict[str, Any] = {}
        if members is None:
            spec = self.load_spec(model_name)
            members = self._build_members(spec, member_options)
        if not members:
            raise ConfigurationError("an ensemble needs at least one member")
        self.members = dict(members)
        self._model = model_name
        self.first_stage_weight = float(
            first_stage_weight if first_stage_weight is not None else spec.get("first_stage_weight", 0.5)
        )
        self.agreement_gamma = float(
            agreement_gamma if agreement_gamma is not None else spec.get("agreement_gamma", 2.0)
        )
        languages = [m.languages for m, _ in self.members.values()]
        self.languages = None if any(lang is None for lang in languages) else frozenset().union(*languages)  # type: ignore[arg-type]
        self.takes_instruction = any(m.takes_instruction for m, _ in self.members.values())

    @staticmethod
    def load_spec(model_name: str) -> dict[str, Any]:
        """The ensemble a folder's ``rag_rerank.json`` describes (``{"ensemble": {...}}``)."""
        from rag_core._hub import resolve_model_dir
        from rag_core.models import resolve_builtin

        if model_name.startswith("builtin:"):
            folder = resolve_builtin(model_name)[1]
        elif (Path(model_name) / "rag_rerank.json").is_file():  # a recipe folder: no weights of its own
            folder = Path(model_name)
        else:
            folder = resolve_model_dir(model_name)
        path = Path(folder) / "rag_rerank.json"
        try:
            spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["ensemble"]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"{model_name}: no ensemble described in {path} ({exc})") from exc
        return spec

    @staticmethod
    def _build_members(spec: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, tuple[BaseReranker, float]]:
        from rag_core.rerankers._factory import RerankerFactory

        built: dict[str, tuple[BaseReranker, float]] = {}
        for name, member in spec.get("members", {}).items():
            config = {"model_name": member["model"], **member.get("options", {})}
            kind = member.get("type", "cross_encoder")
            cls_options = {k: v for k, v in options.items() if v is not None}
            reranker = RerankerFactory.create_sync(kind, {**_accepted(kind, cls_options), **config})
            built[name] = (reranker, float(member.get("weight", 1.0)))
        return built

    # -- BaseReranker ---------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self._model

    @property
    def engine_name(self) -> str:
        return "ensemble(" + ", ".join(f"{n}: {m.engine_name}" for n, (m, _) in self.members.items()) + ")"

    @property
    def pending_cost(self) -> int:
        return sum(m.pending_cost for m, _ in self.members.values())

    def estimate_cost(self, query: str, texts: Sequence[str]) -> int:
        return sum(m.estimate_cost(query, texts) for m, _ in self.members.values())

    def count_tokens(self, query: str, texts: Sequence[str]) -> int:
        return max(m.count_tokens(query, texts) for m, _ in self.members.values())

    def check_admission(self, query: str, documents: Sequence[Document], deadline: float | None = None) -> None:
        for member, _ in self.members.values():
            member.check_admission(query, documents, deadline)

    def reuse_vectors_from(self, store: Any) -> bool:
        """Members that embed passages (a bi-encoder) reuse an index's vectors when they match."""
        reused = False
        for member, _ in self.members.values():
            hook = getattr(member, "reuse_vectors_from", None)
            if hook is not None and hook(store):
                reused = True
        return reused

    def _combine(self, docs: Sequence[Document], parts: Mapping[str, DocumentScores]) -> DocumentScores:
        signals = {name: np.asarray(scored.raw, dtype=np.float64) for name, scored in parts.items()}
        priors = {name: weight for name, (_, weight) in self.members.items()}
        first = [d.score for d in docs]
        if self.first_stage_weight > 0 and docs and all(s is not None for s in first):
            signals[FIRST_STAGE] = np.asarray(first, dtype=np.float64)
            priors[FIRST_STAGE] = self.first_stage_weight
        fused, weights = combine_signals(signals, priors, agreement_gamma=self.agreement_gamma)
        extra = []
        for i in range(len(docs)):
            item: dict[str, Any] = {
                "rerank_signals": {n: float(v[i]) for n, v in signals.items()},
                "rerank_weights": {n: round(w, 4) for n, w in weights.items()},
            }
            for scored in parts.values():  # windows / truncation flags of the members
                if scored.extra is not None:
                    for key in ("rerank_windows", "rerank_truncated"):
                        if key in scored.extra[i]:
                            item[key] = max(item.get(key, 0), scored.extra[i][key])
            extra.append(item)
        return DocumentScores(sigmoid(fused), fused, extra)

    def _score_documents(self, query: str, documents: Sequence[Document]) -> DocumentScores:
        parts = {name: member._score_documents(query, documents) for name, (member, _) in self.members.items()}
        return self._combine(documents, parts)

    async def _score_documents_async(
        self, query: str, documents: Sequence[Document], *, deadline: float | None = None
    ) -> DocumentScores:
        """Members with an admission queue (micro-batched: cross-encoders, the bi-encoder) score
        together first; when one refuses (overloaded) or fails, the others' queued work is
        cancelled and the request is refused at once. Members without a queue (late interaction)
        follow within the same deadline, so under a burst only admitted requests reach them and
        they cannot pile up work that no deadline accounts for."""
        queued = [n for n in self.members if _has_queue(self.members[n][0])]
        rest = [n for n in self.members if n not in queued]
        for name in queued:  # every queue is asked before any receives work: none is wasted on a refusal
            self.members[name][0].check_admission(query, documents, deadline)
        parts: dict[str, DocumentScores] = {}
        for group in (queued, rest):
            if not group:
                continue
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceededError(f"the ensemble's members {group} could not start before the deadline")
            tasks = [
                asyncio.ensure_future(self.members[n][0]._score_documents_async(query, documents, deadline=deadline))
                for n in group
            ]
            try:
                results = await asyncio.gather(*tasks)
            except BaseException:  # one member refused or failed: the others' queued work is dropped too
                for task in tasks:
                    task.cancel()
                raise
            parts.update(zip(group, results, strict=True))
        return self._combine(documents, {n: parts[n] for n in self.members})

    def reset_caches(self) -> None:
        for member, _ in self.members.values():
            member.reset_caches()

    def close(self) -> None:
        super().close()
        for member, _ in self.members.values():
            member.close()

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "members": {n: m.identity() for n, (m, _) in self.members.items()}}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "members": {n: {**m.describe(), "prior": w} for n, (m, w) in self.members.items()},
            "first_stage_weight": self.first_stage_weight,
            "agreement_gamma": self.agreement_gamma,
        }


def _has_queue(member: BaseReranker) -> bool:
    """Whether ``member`` admits work through a queue of its own (it reports ``pending_cost``)."""
    return type(member).pending_cost is not BaseReranker.pending_cost


def _accepted(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The shared options (threads, device, ...) that a member's class accepts."""
    import inspect

    from rag_core.rerankers._registry import get_reranker_class

    params = inspect.signature(get_reranker_class(kind).__init__).parameters
    return {k: v for k, v in options.items() if k in params and k not in ("model_name", "top_n")}
