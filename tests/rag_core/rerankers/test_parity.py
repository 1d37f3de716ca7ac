"""Parity with the reference implementation, sentence-transformers ``CrossEncoder.predict``."""

from __future__ import annotations

import numpy as np
import pytest

from rag_core.rerankers import CrossEncoderReranker

PAIRS_QUERY = "what is the boiling point of water at altitude"
TEXTS = [
    "Water boils at a lower temperature at high altitude because air pressure is lower.",
    "At sea level water boils at 100 degrees Celsius.",
    "Mount Everest is the highest mountain on Earth.",
    "Pasta takes longer to cook in the mountains.",
    "沸点随海拔升高而降低。",
    "A short one.",
    "A much longer passage that keeps going " * 30,
]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("model", ["minilm_ce_dir", "tiny_model_dir"])
def test_scores_equal_sentence_transformers(request, model, backend):
    from sentence_transformers import CrossEncoder

    model_dir = request.getfixturevalue(model)
    max_length = 256 if model == "minilm_ce_dir" else 128
    reference = CrossEncoder(str(model_dir), max_length=max_length, device="cpu")
    expected = reference.predict([(PAIRS_QUERY, t) for t in TEXTS], batch_size=32, show_progress_bar=False)
    ours = CrossEncoderReranker(
        str(model_dir),
        backend=backend,
        precision="float32",
        quantize="none",
        max_length=max_length,
        long_documents="truncate",
    )
    got = ours.score(PAIRS_QUERY, TEXTS)
    tolerance = 1e-5 if backend == "torch" else 1e-4
    np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), atol=tolerance)
    assert np.ptp(got) > 1e-3  # the comparison is not between constants
    ours.close()
