"""The torch engine on a real GPU: device choice, fp16, and a genuine out-of-memory recovery.

Skipped where CUDA is absent (CI, this project's CPU machines); run on a GPU machine with
``pytest tests/rag_core/engines/test_cuda.py``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from rag_core.engines import TorchEngine, create_engine, pick_device

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

PAIRS = [(f"question {i % 7} about cats", "a cat is a small carnivorous mammal " * (i % 5 + 1)) for i in range(40)]


def test_auto_picks_cuda_and_the_torch_backend(tiny_model_dir):
    assert pick_device() == "cuda"
    engine = create_engine(str(tiny_model_dir))
    assert engine.backend == "torch"
    assert engine.describe()["device"] == "cuda"


def test_cuda_fp32_equals_cpu_and_fp16_stays_close(tiny_model_dir):
    cpu = TorchEngine(str(tiny_model_dir), device="cpu").score(PAIRS).logits
    gpu = TorchEngine(str(tiny_model_dir), device="cuda").score(PAIRS).logits
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
    half_engine = TorchEngine(str(tiny_model_dir), device="cuda", precision="float16")
    assert half_engine.describe()["dtype"] == "float16"
    half = half_engine.score(PAIRS).logits
    assert half.dtype == np.float32
    assert np.abs(half - cpu).max() < 0.05


def test_a_real_out_of_memory_error_halves_the_batch(tiny_model_dir, caplog):
    """Cap this process's CUDA memory so that one big batch cannot fit, then score it."""
    pairs = [("query", "word " * 100)] * 4096  # 4096 x ~105 tokens: ~0.4 GB of attention per layer
    engine = TorchEngine(str(tiny_model_dir), device="cuda", batch_size=4096, max_batch_tokens=10**7)
    expected = TorchEngine(str(tiny_model_dir), device="cpu").score(pairs[:8]).logits
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(300e6 / total)
    try:
        with caplog.at_level(logging.WARNING, logger="rag_core.engines._torch"):
            logits = engine.score(pairs).logits
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert any("retrying with batches" in r.getMessage() for r in caplog.records)
    assert logits.shape == (4096,)
    np.testing.assert_allclose(logits[:8], expected, atol=1e-4)
