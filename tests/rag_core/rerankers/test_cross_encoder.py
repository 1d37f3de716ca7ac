"""CrossEncoderReranker behaviour on a real (tiny) BERT checkpoint."""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import pytest

from rag_core import Document, InvalidInputError
from rag_core.rerankers import CrossEncoderReranker, sigmoid

QUERY = "how do neural networks learn"
DOCS = [
    "Neural networks learn weights with backpropagation.",
    "Bread needs flour, water and yeast.",
    "Gradient descent minimises a loss function.",
    "The capital of France is Paris.",
    "Perceptrons were invented in 1958.",
    "Cats sleep most of the day.",
    "Deep learning models are trained on GPUs.",
]


def expected_order(reranker: CrossEncoderReranker, query: str, texts: list[str]) -> list[int]:
    logits = reranker.engine.score([(query, t) for t in texts]).logits
    return list(np.argsort(-logits.astype(np.float64), kind="stable"))


async def test_rerank_orders_by_model_score_and_writes_metadata(tiny_reranker):
    docs = [Document(t, {"source": f"s{i}"}, id=f"d{i}", score=1.0 - i / 10) for i, t in enumerate(DOCS)]
    result = await tiny_reranker.rerank(QUERY, docs, top_n=3)
    order = expected_order(tiny_reranker, QUERY, DOCS)[:3]
    assert [d.id for d in result] == [f"d{i}" for i in order]
    for rank, doc in enumerate(result, start=1):
        logit = tiny_reranker.engine.score([(QUERY, doc.page_content)]).logits[0]
        assert doc.metadata["rerank_score"] == pytest.approx(float(sigmoid(np.array([logit]))[0]), abs=1e-6)
        assert doc.score == doc.metadata["rerank_score"]
        assert doc.metadata["rerank_rank"] == rank
        original = int(doc.id[1:])
        assert doc.metadata["original_rank"] == original + 1
        assert doc.metadata["original_score"] == pytest.approx(1.0 - original / 10)
        assert doc.metadata["source"] == f"s{original}"  # caller metadata kept
        assert doc.metadata["rerank_windows"] == 1
    scores = [d.score for d in result]
    assert scores == sorted(scores, reverse=True)


async def test_inputs_are_not_mutated(tiny_reranker):
    docs = [Document(t, {"k": [1]}, id=str(i)) for i, t in enumerate(DOCS)]
    before = [(d.page_content, dict(d.metadata), d.score) for d in docs]
    result = await tiny_reranker.rerank(QUERY, docs)
    assert [(d.page_content, dict(d.metadata), d.score) for d in docs] == before
    assert all(r is not d for r in result for d in docs)


async def test_top_n_larger_than_the_list_returns_everything(tiny_reranker):
    result = await tiny_reranker.rerank(QUERY, DOCS[:3], top_n=50)
    assert len(result) == 3


@pytest.mark.parametrize("top_n", [0, -1, 1.5, True, "3"])
async def test_bad_top_n_is_a_clear_error(tiny_reranker, top_n):
    with pytest.raises(InvalidInputError, match="top_n"):
        await tiny_reranker.rerank(QUERY, DOCS, top_n=top_n)


@pytest.mark.parametrize("query", ["", "   ", None, 5])
async def test_bad_query_is_a_clear_error(tiny_reranker, query):
    with pytest.raises(InvalidInputError, match="query"):
        await tiny_reranker.rerank(query, DOCS)


async def test_empty_documents_give_an_empty_result_without_a_model_call(tiny_reranker, monkeypatch):
    calls = []
    original = tiny_reranker.engine.score
    monkeypatch.setattr(tiny_reranker.engine, "score", lambda pairs: calls.append(pairs) or original(pairs))
    assert list(await tiny_reranker.rerank(QUERY, [])) == []
    assert tiny_reranker.rerank_sync(QUERY, []) == []
    assert calls == []


async def test_documents_without_ids_strings_and_dicts(tiny_reranker):
    result = await tiny_reranker.rerank(QUERY, ["plain string", {"text": "dict text"}, Document("doc")], top_n=3)
    assert sorted(d.page_content for d in result) == ["dict text", "doc", "plain string"]
    assert all(d.id is None for d in result)


async def test_duplicate_texts_tie_and_keep_their_input_order(tiny_reranker):
    docs = [Document("same text", id="first"), Document("other", id="x"), Document("same text", id="second")]
    result = await tiny_reranker.rerank(QUERY, docs, top_n=3)
    ids = [d.id for d in result]
    assert ids.index("first") < ids.index("second")
    dup = [d for d in result if d.page_content == "same text"]
    assert dup[0].score == dup[1].score


async def test_non_ascii_and_chinese_text(tiny_reranker):
    docs = ["神经网络通过反向传播学习权重。", "Café crème brûlée für Müller", "日本語のテキスト", "emoji 🤖 text"]
    result = await tiny_reranker.rerank("神经网络如何学习", docs, top_n=4)
    assert sorted(d.page_content for d in result) == sorted(docs)
    assert all(0.0 <= d.score <= 1.0 for d in result)


async def test_a_thousand_documents_in_one_call(tiny_model_dir):
    reranker = CrossEncoderReranker(
        str(tiny_model_dir), backend="torch", precision="float32", batch_size=32, top_n=1000
    )
    texts = [
        f"document number {i} about {'neural networks' if i % 7 == 0 else 'cooking'} " * (1 + i % 5)
        for i in range(1000)
    ]
    result = await reranker.rerank(QUERY, texts, top_n=1000)
    assert len(result) == 1000
    assert {d.page_content for d in result} == set(texts)
    assert [texts.index(d.page_content) for d in result[:20]] == expected_order(reranker, QUERY, texts)[:20]
    one_by_one = [reranker.engine.score([(QUERY, t)]).logits[0] for t in texts[:40]]
    batched = reranker.engine.score([(QUERY, t) for t in texts[:40]]).logits
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    reranker.close()


async def test_gather_of_eight_queries_equals_sequential_calls(tiny_reranker):
    queries = [f"{QUERY} {i}" for i in range(8)]
    sequential = [await tiny_reranker.rerank(q, DOCS, top_n=4) for q in queries]
    concurrent = await asyncio.gather(*(tiny_reranker.rerank(q, DOCS, top_n=4) for q in queries))
    for a, b in zip(sequential, concurrent, strict=True):
        assert [d.page_content for d in a] == [d.page_content for d in b]
        np.testing.assert_allclose([d.score for d in a], [d.score for d in b], atol=1e-6)


async def test_inference_does_not_block_the_event_loop(tiny_reranker):
    ticks = []

    async def ticker():
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    texts = [f"passage {i} " * 20 for i in range(600)]
    started = time.perf_counter()
    await tiny_reranker.rerank(QUERY, texts)
    took = time.perf_counter() - started
    task.cancel()
    during = [t for t in ticks if started <= t <= started + took]
    assert took > 0.05
    assert len(during) >= 3, f"the loop ticked {len(during)} times during {took:.2f}s of inference"
    gaps = np.diff(during)
    assert gaps.max() < max(0.25, took / 2)


def test_sigmoid_is_float64_and_keeps_close_high_logits_apart():
    scores = sigmoid(np.array([15.0, 15.5, 0.0, -5.0, -800.0, 800.0], dtype=np.float32))
    assert scores.dtype == np.float64
    assert scores[0] < scores[1] < 1.0
    assert scores[2] == 0.5
    assert scores[3] == pytest.approx(0.0067, abs=1e-4)
    assert scores[4] == 0.0 and scores[5] == 1.0


async def test_result_carries_timing_and_score_statistics(tiny_reranker):
    result = await tiny_reranker.rerank(QUERY, DOCS, top_n=2)
    stats = result.stats
    assert stats.documents == len(DOCS) and stats.returned == 2
    assert stats.elapsed_ms > 0 and stats.per_document_ms == pytest.approx(stats.elapsed_ms / len(DOCS))
    assert stats.score_max >= stats.score_mean >= stats.score_min


async def test_top1_change_is_logged_and_scores_at_debug(tiny_reranker, caplog):
    order = expected_order(tiny_reranker, QUERY, DOCS)
    docs = [DOCS[i] for i in reversed(order)]  # the model's best is last: reranking must move it
    with caplog.at_level(logging.DEBUG, logger="rag_core.rerankers"):
        result = await tiny_reranker.rerank(QUERY, docs, top_n=3)
    assert result.stats.top1_changed
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Reranking changed top result") for m in messages)
    assert any(m.startswith("Rerank scores: max=") for m in messages)


def test_score_returns_normalised_scores_in_input_order(tiny_reranker):
    scores = tiny_reranker.score(QUERY, DOCS)
    logits = tiny_reranker.engine.score([(QUERY, t) for t in DOCS]).logits
    np.testing.assert_allclose(scores, sigmoid(logits), atol=1e-7)
    with pytest.raises(InvalidInputError):
        tiny_reranker.score(QUERY, "a string")


def test_empty_blank_and_special_token_passages_are_scored(tiny_reranker):
    texts = ["", "   ", "[SEP] [CLS] [PAD]" * 200, "\u0000 control \u0007"]
    result = tiny_reranker.rerank_sync("[CLS] query [SEP]", texts, top_n=4)
    assert len(result) == 4 and all(np.isfinite(d.score) for d in result)


def test_a_lone_surrogate_is_a_typed_error_naming_the_document(tiny_reranker):
    with pytest.raises(InvalidInputError, match=r"documents\[1\].*surrogate"):
        tiny_reranker.rerank_sync("query", ["fine", "bad \udfff text"])
    with pytest.raises(InvalidInputError, match="query.*surrogate"):
        tiny_reranker.rerank_sync("bad \ud800", ["fine"])
