"""Reranking a first-stage run query by query, with timing and progress."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rag_core.datasets import Qrels, RankedList
from rag_core.evaluation._metrics import per_query_metric
from rag_core.rerankers._fusion import FusionMethod, fuse_scores

if TYPE_CHECKING:
    from rag_core.rerankers import BaseReranker

__all__ = [
    "RerankedRun",
    "compare_runs",
    "evaluate_reranking",
    "first_stage_run",
    "load_first_stage",
    "rerank_lists",
]

logger = logging.getLogger(__name__)


class RerankedRun(NamedTuple):
    run: dict[str, dict[str, float]]
    pairs: int
    seconds: float
    query_ms: list[float]
    #: per query: the reranked candidates' docids, first-stage scores and raw model scores
    raw: dict[str, tuple[list[str], np.ndarray, np.ndarray]] | None = None

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else 0.0

    def fused(self, lists: Sequence[RankedList], method: FusionMethod, weight: float) -> dict[str, dict[str, float]]:
        """The run re-ordered by fusing the model's scores with the first stage's (no re-scoring)."""
        if self.raw is None:
            raise ValueError("this run kept no raw scores")
        run: dict[str, dict[str, float]] = {}
        for ranked in lists:
            docids, first, logits = self.raw[ranked.qid]
            fused = fuse_scores(logits, first, method=method, weight=weight)
            entry = {d: 1000.0 + float(f) for d, f in zip(docids, fused, strict=True)}
            tail = ranked.candidates[len(docids) :]
            entry.update({c.docid: float(len(tail) - i) / (len(tail) + 1) for i, c in enumerate(tail)})
            run[ranked.qid] = entry
        return run


def first_stage_run(lists: Sequence[RankedList], depth: int | None = None) -> dict[str, dict[str, float]]:
    """The first-stage ranking as a run; scores are made strictly decreasing by rank, so that
    ties in the original scores cannot reorder it."""
    run: dict[str, dict[str, float]] = {}
    for ranked in lists:
        cands = ranked.candidates[:depth]
        run[ranked.qid] = {c.docid: float(len(cands) - i) for i, c in enumerate(cands)}
    return run


def rerank_lists(
    reranker: BaseReranker,
    lists: Sequence[RankedList],
    *,
    depth: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    fusion: FusionMethod = "none",
    fusion_weight: float = 0.3,
    pair_scorer: Callable[[list[tuple[str, str]]], np.ndarray] | None = None,
) -> RerankedRun:
    """Score every (query, candidate) pair of ``lists`` (the first ``depth`` candidates) with
    ``reranker``; candidates below ``depth`` keep their first-stage order after the reranked ones.
    The run orders by the model's raw score, or by its fusion with the first stage's scores.
    ``pair_scorer`` scores every pair in one bulk call instead (e.g. on Ray Data)."""
    run: dict[str, dict[str, float]] = {}
    raw: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}
    pairs = 0
    query_ms: list[float] = []
    started = time.perf_counter()
    bulk: list[np.ndarray] | None = None
    if pair_scorer is not None:
        heads = [r.candidates[:depth] if depth else r.candidates for r in lists]
        flat = np.asarray(pair_scorer([(r.query, c.text) for r, h in zip(lists, heads, strict=True) for c in h]))
        bounds = np.cumsum([0, *[len(h) for h in heads]])
        bulk = [flat[a:b].astype(np.float64) for a, b in itertools.pairwise(bounds)]
    for number, ranked in enumerate(lists, start=1):
        cands = ranked.candidates[:depth] if depth else ranked.candidates
        t0 = time.perf_counter()
        if bulk is not None:
            logits = bulk[number - 1]
        else:
            logits = reranker.score(ranked.query, [c.text for c in cands], raw=True) if cands else np.zeros(0)
        query_ms.append((time.perf_counter() - t0) * 1000)
        pairs += len(cands)
        first = np.asarray([c.score for c in cands], dtype=np.float64)
        raw[ranked.qid] = ([c.docid for c in cands], first, logits)
        scores = fuse_scores(logits, first, method=fusion, weight=fusion_weight) if fusion != "none" else logits
        entry = {c.docid: 1000.0 + float(s) for c, s in zip(cands, scores, strict=True)}
        tail = ranked.candidates[len(cands) :]
        entry.update({c.docid: float(len(tail) - i) / (len(tail) + 1) for i, c in enumerate(tail)})
        run[ranked.qid] = entry
        if progress:
            progress(number, len(lists))
    return RerankedRun(run, pairs, time.perf_counter() - started, query_ms, raw)


def compare_runs(
    qrels: Qrels, before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], metric: str = "ndcg@10"
) -> dict[str, int]:
    """Per-query wins, losses and ties of ``after`` over ``before`` on ``metric``."""
    a = per_query_metric(qrels, before, metric)
    b = per_query_metric(qrels, after, metric)
    wins = sum(1 for q in a if b.get(q, 0.0) > a[q] + 1e-9)
    losses = sum(1 for q in a if b.get(q, 0.0) < a[q] - 1e-9)
    return {"wins": wins, "losses": losses, "ties": len(a) - wins - losses}


def load_first_stage(
    *,
    run: str | Path | None = None,
    qrels: str | Path | None = None,
    topics: str | Path | None = None,
    passages: str | Path | None = None,
    beir: str | Path | None = None,
    split: str = "test",
    depth: int = 100,
) -> tuple[list[RankedList], Qrels]:
    """A judged first stage: a JSON run with text, a TREC run joined with topics and passages, or
    a BEIR folder (its corpus searched with our BM25, ``depth`` deep). Only judged queries."""
    from rag_core._errors import InvalidInputError
    from rag_core.datasets import (
        load_beir,
        read_passages,
        read_qrels,
        read_run_json,
        read_topics,
        read_trec_run,
        runs_with_text,
    )

    if beir is not None:
        from rag_core._documents import Document
        from rag_core.datasets import Candidate
        from rag_core.retrieval import BM25Retriever

        corpus, queries, judgments = load_beir(beir, split)
        bm25 = BM25Retriever.from_documents(Document(t, id=i) for i, t in corpus.items())
        lists = [
            RankedList(
                qid,
                queries[qid],
                [Candidate(str(d.id), s, d.page_content) for d, s in bm25.search(queries[qid], depth)],
            )
            for qid in judgments
            if qid in queries
        ]
        return lists, judgments
    if run is None or qrels is None:
        raise InvalidInputError("give a run and its qrels, or a BEIR folder")
    judgments = read_qrels(qrels)
    if str(run).endswith(".json"):
        lists = read_run_json(run)
    else:
        if topics is None or passages is None:
            raise InvalidInputError("a TREC run needs its topics and passages (JSONL or TSV)")
        lists = runs_with_text(read_trec_run(run), read_topics(topics), read_passages(passages))
    return [r for r in lists if r.qid in judgments], judgments


def evaluate_reranking(
    reranker: BaseReranker,
    lists: Sequence[RankedList],
    qrels: Qrels,
    *,
    depth: int = 100,
    k: int = 10,
    rel_level: int = 2,
    fusion: FusionMethod | None = None,
    fusion_weight: float | None = None,
    fusion_grid: bool = False,
    pair_scorer: Callable[[list[tuple[str, str]]], np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Rerank a first-stage run and compare: metrics before and after, per-query wins and losses,
    pairs/s, and with ``fusion_grid`` nDCG@k for rrf and interpolate at several weights (from
    the same scores). ``fusion`` and ``fusion_weight`` default to the reranker's own."""
    from rag_core.evaluation._metrics import MetricSet, evaluate_run

    method: FusionMethod = fusion if fusion is not None else getattr(reranker, "fusion", "none")
    weight = getattr(reranker, "fusion_weight", 0.3) if fusion_weight is None else fusion_weight
    judgments = {q: qrels[q] for q in {r.qid for r in lists}}
    metrics = MetricSet(k=k, recall_k=depth, rel_level=rel_level)
    before_run = first_stage_run(lists, depth)
    reranked = rerank_lists(
        reranker, lists, depth=depth, progress=progress, fusion=method, fusion_weight=weight, pair_scorer=pair_scorer
    )
    before = evaluate_run(judgments, before_run, metrics)
    after = evaluate_run(judgments, reranked.run, metrics)
    report: dict[str, Any] = {
        "first_stage": before,
        "reranked": after,
        "delta": {m: after[m] - before[m] for m in before},
        "per_query": {"metric": f"ndcg@{k}", **compare_runs(judgments, before_run, reranked.run, f"ndcg@{k}")},
        "queries": len(lists),
        "candidates_per_query": depth,
        "pairs": reranked.pairs,
        "pairs_per_s": reranked.pairs_per_s,
        "reranker": reranker.describe(),
        "fusion": {"method": method, "first_stage_weight": weight},
    }
    if fusion_grid:
        grid: dict[str, float] = {
            "none": evaluate_run(judgments, reranked.fused(lists, "none", 0.0), metrics)[f"ndcg@{k}"]
        }
        for grid_method in ("rrf", "interpolate"):
            for w in (0.1, 0.2, 0.3, 0.5, 0.7):
                fused = reranked.fused(lists, grid_method, w)
                grid[f"{grid_method}@{w}"] = evaluate_run(judgments, fused, metrics)[f"ndcg@{k}"]
        report["fusion_grid"] = {"metric": f"ndcg@{k}", **grid}
    return report
