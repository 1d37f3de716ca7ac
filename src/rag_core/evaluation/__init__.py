"""Measuring rankings: IR metrics (via ranx) and reranking a first-stage run."""

from __future__ import annotations

from rag_core.evaluation._metrics import MetricSet, evaluate_run, per_query_metric
from rag_core.evaluation._pipeline import PipelineResult, corpus_index, evaluate_pipeline, evaluate_retrieval
from rag_core.evaluation._rerank_run import (
    RerankedRun,
    compare_runs,
    evaluate_reranking,
    first_stage_run,
    load_first_stage,
    rerank_lists,
)

__all__ = [
    "MetricSet",
    "PipelineResult",
    "RerankedRun",
    "compare_runs",
    "corpus_index",
    "evaluate_pipeline",
    "evaluate_reranking",
    "evaluate_retrieval",
    "evaluate_run",
    "first_stage_run",
    "load_first_stage",
    "per_query_metric",
    "rerank_lists",
]
