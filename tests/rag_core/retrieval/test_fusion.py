from __future__ import annotations

import pytest

from rag_core.retrieval import reciprocal_rank_fusion


def test_rrf_matches_a_hand_computed_example():
    fused = reciprocal_rank_fusion({"vector": ["a", "b", "c"], "bm25": ["c", "a", "d"]}, k=60)
    expected = {
        "a": 1 / 61 + 1 / 62,
        "c": 1 / 63 + 1 / 61,
        "b": 1 / 62,
        "d": 1 / 63,
    }
    assert [item.key for item in fused] == ["a", "c", "b", "d"]
    for item in fused:
        assert item.score == pytest.approx(expected[item.key])
    assert fused[0].ranks == {"vector": 1, "bm25": 2}
    assert fused[3].ranks == {"bm25": 3}


def test_ties_break_by_best_rank_then_first_appearance():
    fused = reciprocal_rank_fusion({"x": ["a", "b"], "y": ["b", "a"]}, k=60)
    assert fused[0].score == fused[1].score
    assert [i.key for i in fused] == ["a", "b"]  # same best rank (1): first seen wins
    fused = reciprocal_rank_fusion({"x": ["p"], "y": ["q"]}, k=0)
    assert [i.key for i in fused] == ["p", "q"]


def test_one_retriever_returning_nothing_keeps_the_other_order():
    fused = reciprocal_rank_fusion({"vector": [], "bm25": ["z", "y", "x"]})
    assert [i.key for i in fused] == ["z", "y", "x"]
    assert reciprocal_rank_fusion({"vector": [], "bm25": []}) == []


def test_weights_and_limit():
    fused = reciprocal_rank_fusion({"vector": ["a"], "bm25": ["b"]}, weights={"bm25": 2.0}, limit=1)
    assert [i.key for i in fused] == ["b"]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"x": ["a"]}, k=-1)
