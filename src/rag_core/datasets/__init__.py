"""Readers for relevance-judged data: TREC topics, qrels and runs, passage files, BEIR folders."""

from __future__ import annotations

from rag_core.datasets._readers import (
    Candidate,
    Qrels,
    RankedList,
    corpus_from_runs,
    load_beir,
    read_passages,
    read_qrels,
    read_run_json,
    read_topics,
    read_trec_run,
    runs_with_text,
)

__all__ = [
    "Candidate",
    "Qrels",
    "RankedList",
    "corpus_from_runs",
    "load_beir",
    "read_passages",
    "read_qrels",
    "read_run_json",
    "read_topics",
    "read_trec_run",
    "runs_with_text",
]
