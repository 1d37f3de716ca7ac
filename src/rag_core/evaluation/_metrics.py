"""IR metrics with ``ranx`` (trec_eval conventions: linear-gain nDCG, graded qrels)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from rag_core.datasets import Qrels

__all__ = ["MetricSet", "evaluate_run", "per_query_metric"]

Run = Mapping[str, Mapping[str, float]]


class MetricSet(NamedTuple):
    """Which metrics to compute: nDCG@k (graded), MRR@k, P@1 and Recall@recall_k, where the
    binary ones count a passage relevant at grade >= ``rel_level`` (trec_eval ``-l``)."""

    k: int = 10
    recall_k: int = 100
    rel_level: int = 2

    def ranx_names(self) -> dict[str, str]:
        level = f"-l{self.rel_level}"
        return {
            f"ndcg@{self.k}": f"ndcg@{self.k}",
            f"mrr@{self.k}": f"mrr@{self.k}{level}",
            "p@1": f"precision@1{level}",
            f"recall@{self.recall_k}": f"recall@{self.recall_k}{level}",
        }


def _ranx(qrels: Qrels, run: Run) -> tuple[object, object]:
    from ranx import Qrels as RQrels
    from ranx import Run as RRun

    judged = {q: dict(d) for q, d in qrels.items() if d}
    run_dict = {q: dict(run.get(q, {})) or {"__none__": 0.0} for q in judged}
    return RQrels(judged), RRun(run_dict)


def evaluate_run(qrels: Qrels, run: Run, metrics: MetricSet | None = None) -> dict[str, float]:
    """Mean of each metric over the judged queries (a judged query missing from the run scores 0)."""
    from ranx import evaluate

    metrics = metrics or MetricSet()
    names = metrics.ranx_names()
    r_qrels, r_run = _ranx(qrels, run)
    scores = evaluate(r_qrels, r_run, list(names.values()), make_comparable=True)
    return {ours: float(scores[theirs]) for ours, theirs in names.items()}


def per_query_metric(qrels: Qrels, run: Run, metric: str = "ndcg@10") -> dict[str, float]:
    """One ranx metric per judged query."""
    from ranx import evaluate

    r_qrels, r_run = _ranx(qrels, run)
    evaluate(r_qrels, r_run, metric, make_comparable=True)
    return {q: float(v) for q, v in r_run.scores[metric].items()}  # type: ignore[attr-defined]
