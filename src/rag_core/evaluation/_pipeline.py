"""The product path, measured: what ``/query`` runs (the retriever's ``top_k`` candidates, then
the reranker over all of them, fusion with the first stage included), over a judged corpus.

* :func:`corpus_index` builds (once, cached by content and embedder) the embedded index of a
  judged corpus: the pooled passages of TREC runs, or a BEIR folder's corpus.
* :func:`evaluate_pipeline` runs one retriever and one reranker over the judged queries and
  returns the first stage's and the final ranking's metrics, wins and losses per query and the
  time each step takes.
* :func:`evaluate_retrieval` compares several retrievers and query expansions on one index, each
  optionally followed by the same reranking.

The reranker is called exactly as the service calls it (``rerank(query, candidates,
top_n=len(candidates))``), so a figure here is a figure of ``/query``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_core._documents import Document
from rag_core._stats import percentile
from rag_core.datasets import Qrels
from rag_core.evaluation._metrics import MetricSet, evaluate_run, per_query_metric
from rag_core.retrieval import DocumentIndex, HybridRetriever, QueryExpander, SearchIndex

if TYPE_CHECKING:
    from rag_core.embeddings import Embedder
    from rag_core.rerankers import BaseReranker

__all__ = ["PipelineResult", "corpus_index", "evaluate_pipeline", "evaluate_retrieval"]

logger = logging.getLogger(__name__)

Run = dict[str, dict[str, float]]
Progress = Callable[[str, int, int], None]


def corpus_index(
    passages: Mapping[str, str], embedder: Embedder, root: str | Path, *, progress: Progress | None = None
) -> DocumentIndex:
    """The embedded index of ``passages`` under ``root`` (``eval-<digest>``, one per corpus and
    embedder): built on first use, reused after; passages are indexed as they are (no chunking)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for docid in sorted(passages):
        digest.update(docid.encode("utf-8", "surrogatepass") + b"\x00")
    digest.update(embedder.model_name.encode())
    index = DocumentIndex.open(Path(root) / f"eval-{digest.hexdigest()[:12]}", embedder)
    if len(index) != len(passages):
        known = index.contains(list(passages))
        docs = [Document(text, id=docid) for docid, text in passages.items() if docid not in known]
        logger.info("indexing %d passages with %s", len(docs), embedder.model_name)
        index.add_documents(docs, progress=progress)
        index.save()
    index.warm_up()  # the lazy BM25 matrix is built here, not inside the first query's timing
    return index


def _as_run(docs: Sequence[Document]) -> dict[str, float]:
    """Strictly decreasing scores by rank, so that ties cannot reorder a ranking."""
    return {str(d.id): float(len(docs) - n) for n, d in enumerate(docs)}


@dataclass
class PipelineResult:
    """The first stage and the final ranking of every judged query, and their metrics."""

    first_stage: dict[str, float]
    final: dict[str, float] | None
    first_run: Run
    final_run: Run | None
    per_query: dict[str, int] | None  # wins / losses / ties of final over first stage on nDCG@k
    retrieval_ms: list[float] = field(default_factory=list)
    rerank_ms: list[float] = field(default_factory=list)
    candidates: int = 0
    reranker: dict[str, Any] | None = None
    expansion_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "queries": len(self.first_run),
            "candidates": self.candidates,
            "first_stage": self.first_stage,
            "retrieval_ms_p50": percentile(self.retrieval_ms, 50),
        }
        if self.final is not None:
            out["final"] = self.final
            out["delta"] = {m: self.final[m] - self.first_stage[m] for m in self.first_stage}
            out["per_query"] = self.per_query
            out["rerank_ms_p50"] = percentile(self.rerank_ms, 50)
            out["rerank_ms_p95"] = percentile(self.rerank_ms, 95)
            out["reranker"] = self.reranker
        return out


def evaluate_pipeline(
    retriever: HybridRetriever,
    reranker: BaseReranker | None,
    queries: Mapping[str, str],
    qrels: Qrels,
    *,
    top_k: int = 20,
    metrics: MetricSet | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PipelineResult:
    """``/query`` over every judged query of ``queries``: retrieve ``top_k`` candidates, rerank all
    of them (the reranker's fusion with the first stage applies, as in the service), compare."""
    metrics = metrics or MetricSet(k=10, recall_k=top_k)
    qids = [q for q in sorted(queries) if q in qrels]
    first_run: Run = {}
    final_run: Run = {}
    retrieval_ms: list[float] = []
    rerank_ms: list[float] = []
    expansion_ms: list[float] = []
    for number, qid in enumerate(qids, start=1):
        started = time.perf_counter()
        expansion = retriever.expand_sync(queries[qid])
        expanded = time.perf_counter()
        candidates = retriever.search_expanded(expansion, top_k)
        retrieval_ms.append((time.perf_counter() - started) * 1000)
        expansion_ms.append((expanded - started) * 1000)
        first_run[qid] = _as_run(candidates)
        if reranker is not None:
            started = time.perf_counter()
            reranked = reranker.rerank_sync(queries[qid], candidates, top_n=max(1, len(candidates)))
            rerank_ms.append((time.perf_counter() - started) * 1000)
            final_run[qid] = _as_run(list(reranked))
        if progress is not None:
            progress(number, len(qids))
    judged = {q: qrels[q] for q in qids}
    first = evaluate_run(judged, first_run, metrics)
    if reranker is None:
        return PipelineResult(
            first, None, first_run, None, None, retrieval_ms, rerank_ms, top_k, expansion_ms=expansion_ms
        )
    final = evaluate_run(judged, final_run, metrics)
    name = f"ndcg@{metrics.k}"
    before = per_query_metric(judged, first_run, name)
    after = per_query_metric(judged, final_run, name)
    wins = sum(1 for q in before if after.get(q, 0.0) > before[q] + 1e-9)
    losses = sum(1 for q in before if after.get(q, 0.0) < before[q] - 1e-9)
    versus = {"wins": wins, "losses": losses, "ties": len(before) - wins - losses}
    return PipelineResult(
        first, final, first_run, final_run, versus, retrieval_ms, rerank_ms, top_k, reranker.describe(), expansion_ms
    )


def evaluate_retrieval(
    index: SearchIndex,
    queries: Mapping[str, str],
    qrels: Qrels,
    *,
    modes: Sequence[str] = ("bm25", "vector", "hybrid"),
    expanders: Mapping[str, QueryExpander | None] | None = None,
    depth: int = 100,
    rrf_k: int = 60,
    reranker: BaseReranker | None = None,
    rerank_top_k: int = 20,
    rel_level: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """One row per retriever mode and expansion: nDCG@10, MRR@10 and Recall@``depth`` of the
    first stage, and with a reranker, the product path's final nDCG@10 (its ``rerank_top_k`` best
    candidates reranked as ``/query`` does) with wins and losses per query."""
    expanders = dict(expanders or {"none": None})

    def reporter(label: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None
        report = progress
        return lambda done, total: report(label, done, total)

    recall_metrics = MetricSet(k=10, recall_k=depth, rel_level=rel_level)
    rows: dict[str, dict[str, Any]] = {}
    for name, expander in expanders.items():
        for mode in modes:
            label = mode if name == "none" else f"{mode}+{name}"
            retriever = index.retriever(mode=mode, top_k=depth, depth=depth, rrf_k=rrf_k, expander=expander)  # type: ignore[arg-type]
            deep = evaluate_pipeline(
                retriever,
                None,
                queries,
                qrels,
                top_k=depth,
                metrics=recall_metrics,
                progress=reporter(label),
            )
            row: dict[str, Any] = {
                "retriever": mode,
                "expansion": name,
                "ndcg@10": deep.first_stage["ndcg@10"],
                "mrr@10": deep.first_stage["mrr@10"],
                f"recall@{depth}": deep.first_stage[f"recall@{depth}"],
                "query_ms_p50": percentile(deep.retrieval_ms, 50),
                "expansion_ms_p50": percentile(deep.expansion_ms, 50),
            }
            if reranker is not None:
                reranker.reset_caches()  # each row's rerank time is its own, not a cache's
                product = evaluate_pipeline(
                    retriever,
                    reranker,
                    queries,
                    qrels,
                    top_k=rerank_top_k,
                    metrics=MetricSet(k=10, recall_k=rerank_top_k, rel_level=rel_level),
                    progress=reporter(label + " reranked"),
                )
                assert product.final is not None and product.per_query is not None
                row.update(
                    {
                        f"top{rerank_top_k}_ndcg@10": product.first_stage["ndcg@10"],
                        "reranked_ndcg@10": product.final["ndcg@10"],
                        "wins": product.per_query["wins"],
                        "losses": product.per_query["losses"],
                        "rerank_ms_p50": percentile(product.rerank_ms, 50),
                    }
                )
            rows[label] = row
    return rows
