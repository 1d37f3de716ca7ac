from __future__ import annotations

import numpy as np
import pytest

from rag_core.engines import CallableEngine, PairTokenizer, TorchEngine
from rag_core.engines._tokenization import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    tok, pad, _ = load_tokenizer(tiny_model_dir)
    return tok, pad


def test_token_budget_batches_cover_every_window_once_and_respect_the_budget(tokenizer):
    tok, pad = tokenizer
    pt = PairTokenizer(tok, 64, pad_id=pad)
    pairs = [("query", "word " * (i % 40)) for i in range(100)]
    encoded = pt.encode(pairs)
    rows = []
    for batch in pt.batches(encoded, batch_size=16, max_batch_tokens=300):
        assert len(batch.rows) <= 16
        assert batch.input_ids.size <= 300 or len(batch.rows) == 1
        width = batch.input_ids.shape[1]
        assert width == max(len(encoded.windows[r].ids) for r in batch.rows)  # padded to the batch's longest
        rows.extend(batch.rows.tolist())
    assert sorted(rows) == list(range(len(encoded.windows)))


def test_scores_come_back_in_the_original_order(tiny_model_dir):
    engine = TorchEngine(str(tiny_model_dir), batch_size=3, max_batch_tokens=64)
    texts = [("q", "short"), ("q", "a much longer passage " * 6), ("q", "mid length text here"), ("q", "x")]
    batched = engine.score(texts).logits
    single = np.array([engine.score([p]).logits[0] for p in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_long_documents_are_chunked_and_take_their_best_window(tiny_model_dir):
    engine = TorchEngine(str(tiny_model_dir), max_length=32, long_documents="chunk")
    filler = "ordinary filler words about nothing in particular " * 6
    needle = "neural networks learn by backpropagation"
    document = filler + needle + " " + filler
    result = engine.score([("neural networks", document)])
    assert result.windows[0] > 3
    windows = engine.tokenizer.encode([("neural networks", document)]).windows
    decoded = [engine.tokenizer._tok.decode(w.ids, skip_special_tokens=True) for w in windows]
    per_window = engine.score(
        [("neural networks", text.split("neural networks", 1)[1].strip() or text) for text in decoded]
    )
    assert result.logits[0] == pytest.approx(per_window.logits.max(), abs=0.05)
    truncating = TorchEngine(str(tiny_model_dir), max_length=32, long_documents="truncate")
    cut = truncating.score([("neural networks", document)])
    assert cut.windows[0] == 1 and cut.truncated[0]


def test_a_hundred_thousand_character_document_is_scored_in_bounded_memory(tiny_model_dir):
    import tracemalloc

    engine = TorchEngine(str(tiny_model_dir), max_length=128, max_batch_tokens=2048)
    document = ("lorem ipsum dolor sit amet " * 4000)[:100_000]
    tracemalloc.start()
    result = engine.score([("query", document)])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.windows[0] > 100
    assert np.isfinite(result.logits[0])
    assert peak < 200 * 2**20, f"peak Python allocations {peak / 2**20:.0f} MiB"


def test_callable_engine_counts_calls():
    engine = CallableEngine(lambda q, p: float(len(set(q.split()) & set(p.split()))))
    out = engine.score([("a b", "a"), ("a b", "a b"), ("a b", "c")])
    assert out.logits.tolist() == [1.0, 2.0, 0.0]
    assert engine.calls == 1 and engine.pairs_scored == 3
