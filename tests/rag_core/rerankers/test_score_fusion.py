"""Fusing the reranker with the first stage: by hand, and through the reranker."""

from __future__ import annotations

import numpy as np
import pytest

from rag_core import Document, InvalidInputError
from rag_core.engines import CallableEngine
from rag_core.rerankers import CrossEncoderReranker
from rag_core.rerankers._fusion import fuse_scores


def test_interpolation_and_rrf_by_hand():
    logits = np.array([0.0, 10.0, 5.0])
    first = np.array([3.0, 1.0, 2.0])  # the first stage liked the first document best
    assert fuse_scores(logits, first, method="interpolate", weight=0.0).tolist() == [0.0, 1.0, 0.5]
    assert fuse_scores(logits, first, method="interpolate", weight=1.0).tolist() == [1.0, 0.0, 0.5]
    assert fuse_scores(logits, first, method="interpolate", weight=0.5).tolist() == [0.5, 0.5, 0.5]
    rrf = fuse_scores(logits, first, method="rrf", weight=1.0, k=60)
    assert rrf.tolist() == pytest.approx([1 / 63 + 1 / 61, 1 / 61 + 1 / 62, 1 / 62 + 1 / 63])
    no_scores = fuse_scores(logits, None, method="interpolate", weight=1.0)  # input order stands in
    assert no_scores.argmax() == 0
    assert fuse_scores(logits, first, method="none").tolist() == logits.tolist()
    with pytest.raises(ValueError):
        fuse_scores(logits, first, method="interpolate", weight=2.0)


def length_model(query: str, passage: str) -> float:
    return float(len(passage))  # prefers long passages


def test_the_reranker_fuses_only_documents_with_first_stage_scores():
    docs = [Document("short but first", score=9.0), Document("a much longer passage, ranked last", score=1.0)]
    plain = CrossEncoderReranker(engine=CallableEngine(length_model))
    assert plain.rerank_sync("q", docs, top_n=2)[0].page_content.startswith("a much longer")
    trusting = CrossEncoderReranker(engine=CallableEngine(length_model), fusion="interpolate", fusion_weight=0.8)
    fused = trusting.rerank_sync("q", docs, top_n=2)
    assert fused[0].page_content == "short but first" and "rerank_fused_score" in fused[0].metadata
    assert fused[0].metadata["rerank_score"] < fused[1].metadata["rerank_score"]  # the model's own score is kept
    bare = trusting.rerank_sync("q", [d.page_content for d in docs], top_n=2)  # no first stage: no fusion
    assert bare[0].page_content.startswith("a much longer") and "rerank_fused_score" not in bare[0].metadata
    assert trusting.describe()["fusion"] == {"method": "interpolate", "first_stage_weight": 0.8}
    with pytest.raises(InvalidInputError):
        CrossEncoderReranker(engine=CallableEngine(length_model), fusion="magic")  # type: ignore[arg-type]


def test_auto_fusion_follows_the_recommendation_saved_with_the_model(tiny_model_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder, ignore=shutil.ignore_patterns("onnx"))
    plain = CrossEncoderReranker(str(folder), backend="torch", fusion="auto")
    assert plain.fusion == "none"
    (folder / "rag_rerank.json").write_text(json.dumps({"fusion": {"method": "rrf", "first_stage_weight": 0.4}}))
    recommended = CrossEncoderReranker(str(folder), backend="torch", fusion="auto")
    assert (recommended.fusion, recommended.fusion_weight) == ("rrf", 0.4)
    pinned = CrossEncoderReranker(str(folder), backend="torch", fusion="none")
    assert pinned.fusion == "none"
    weighted = CrossEncoderReranker(str(folder), backend="torch", fusion="auto", fusion_weight=0.1)
    assert (weighted.fusion, weighted.fusion_weight) == ("rrf", 0.1)
