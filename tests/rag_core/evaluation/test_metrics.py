from __future__ import annotations

import pytest

from rag_core.datasets import read_qrels, read_run_json
from rag_core.evaluation import MetricSet, compare_runs, evaluate_run, first_stage_run


def test_metrics_on_a_hand_checked_example():
    qrels = {"q1": {"a": 3, "b": 1}, "q2": {"c": 2}}
    run = {"q1": {"x": 3.0, "a": 2.0, "b": 1.0}, "q2": {"c": 1.0}}
    scores = evaluate_run(qrels, run, MetricSet(k=10, recall_k=100, rel_level=2))
    assert scores["mrr@10"] == pytest.approx((1 / 2 + 1) / 2)
    assert scores["p@1"] == pytest.approx(0.5)
    assert scores["recall@100"] == pytest.approx(1.0)
    import math

    dcg = 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 1 / math.log2(3)
    assert scores["ndcg@10"] == pytest.approx((dcg / idcg + 1.0) / 2)


def test_missing_query_counts_as_zero():
    scores = evaluate_run({"q1": {"a": 2}, "q2": {"b": 2}}, {"q1": {"a": 1.0}})
    assert scores["ndcg@10"] == pytest.approx(0.5)


def test_wins_and_losses():
    qrels = {"q1": {"a": 2}, "q2": {"b": 2}}
    before = {"q1": {"x": 2.0, "a": 1.0}, "q2": {"b": 2.0, "y": 1.0}}
    after = {"q1": {"a": 2.0, "x": 1.0}, "q2": {"b": 2.0, "y": 1.0}}
    assert compare_runs(qrels, before, after) == {"wins": 1, "losses": 0, "ties": 1}


@pytest.mark.data
def test_bm25_on_dl19_matches_the_published_anserini_figure(shared_data):
    folder = shared_data / "trec-dl19-passage"
    lists = read_run_json(folder / "runs" / "BM25.top100.json")
    qrels = read_qrels(folder / "qrels.dl19-passage.txt")
    assert evaluate_run(qrels, first_stage_run(lists))["ndcg@10"] == pytest.approx(0.5058, abs=5e-5)


def test_top_k_agreement_counts_shared_top_documents():
    from rag_core.evaluation._speed import top_k_agreement

    reference = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"x": 1.0, "y": 0.5}}
    same = {"q1": {"a": 0.9, "b": 0.8, "c": 0.1}, "q2": {"x": 2.0, "y": 1.0}}
    swapped = {"q1": {"a": 0.1, "b": 0.8, "c": 0.9}, "q2": {"x": 2.0, "y": 1.0}}
    assert top_k_agreement(same, reference, 2) == 1.0
    assert top_k_agreement(swapped, reference, 2) == pytest.approx((0.5 + 1.0) / 2)  # q1 keeps b, loses a
