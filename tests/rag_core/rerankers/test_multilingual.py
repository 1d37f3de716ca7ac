"""Multilingual cross-encoders (XLM-RoBERTa: bge-reranker-base/-large/-v2-m3, mMiniLM) on a tiny
random checkpoint with a sentencepiece-style tokenizer: parity with transformers, ONNX fp32 and
int8, long-document windows, Chinese text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rag_core.rerankers import CrossEncoderReranker

QUERY = "法国的首都是哪里"
DOCS = [
    "法国的首都是巴黎。",
    "神经网络通过反向传播算法学习权重。",
    "The capital of France is Paris.",
    "La capitale de la France est Paris.",
    "面包需要面粉、水和酵母。" * 40,  # longer than the model's window: scored in windows
]


def transformers_scores(folder, query, docs, max_length):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=torch.float32).eval()
    batch = tokenizer([query] * len(docs), docs, padding=True, truncation="longest_first", max_length=max_length,
                      return_tensors="pt")  # fmt: skip
    assert "token_type_ids" not in batch or int(batch["token_type_ids"].max()) == 0
    with torch.no_grad():
        return model(**batch).logits[:, 0].numpy().astype(np.float64)


def test_xlmr_scores_equal_transformers_in_fp32(tiny_xlmr_dir):
    reranker = CrossEncoderReranker(
        str(tiny_xlmr_dir), backend="torch", precision="float32", quantize="none", long_documents="truncate"
    )
    got = reranker.score(QUERY, DOCS, raw=True)
    np.testing.assert_allclose(got, transformers_scores(tiny_xlmr_dir, QUERY, DOCS, 256), atol=1e-5)
    assert np.ptp(got) > 1e-3
    reranker.close()


@pytest.mark.parametrize(("quantize", "bound"), [("none", 1e-4), ("int8", 1.0)])
def test_xlmr_onnx_export_within_its_bound(tiny_xlmr_dir, quantize, bound):
    reference = CrossEncoderReranker(str(tiny_xlmr_dir), backend="torch", precision="float32", quantize="none")
    onnx = CrossEncoderReranker(str(tiny_xlmr_dir), backend="onnx", quantize=quantize)
    assert onnx.engine_name == ("onnx-int8" if quantize == "int8" else "onnx-fp32")
    np.testing.assert_allclose(
        onnx.score(QUERY, DOCS, raw=True), reference.score(QUERY, DOCS, raw=True), atol=bound
    )


def test_long_chinese_documents_are_scored_in_windows_of_their_own_tokenizer(tiny_xlmr_dir):
    reranker = CrossEncoderReranker(
        str(tiny_xlmr_dir), backend="torch", precision="float32", max_length=48, long_documents="chunk"
    )
    result = reranker.rerank_sync(QUERY, DOCS, top_n=len(DOCS))
    windows = {d.page_content: d.metadata["rerank_windows"] for d in result}
    assert windows[DOCS[-1]] > 1 and windows[DOCS[0]] == 1
    # the long passage's score is its best window's: no window beats it
    tokenizer = reranker.engine.tokenizer
    encoded = tokenizer.encode([(QUERY, DOCS[-1])])
    assert all(len(w.ids) <= 48 for w in encoded.windows) and "\ufffd" not in DOCS[-1]
    assert {d.page_content for d in result} == set(DOCS)  # nothing garbled or lost
