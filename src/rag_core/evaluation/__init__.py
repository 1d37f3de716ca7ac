"""Measuring rankings: IR metrics (via ranx) and reranking a first-stage run."""

from __future__ import annotations

from rag_core.evaluation._metrics import MetricSet, evaluate_run, per_query_metric
from rag_core.evaluation._rerank_run import RerankedRun, compare_runs, first_stage_run, rerank_lists

__all__ = [
    "MetricSet",
    "RerankedRun",
    "compare_runs",
    "evaluate_run",
    "first_stage_run",
    "per_query_metric",
    "rerank_lists",
]
