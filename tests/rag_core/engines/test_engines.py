from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
import torch

from rag_core import ModelLoadError
from rag_core.engines import CallableEngine, MicroBatcher, TorchEngine, create_engine
from rag_core.engines._onnx import OnnxEngine

PAIRS = [("what is a cat", "a cat is a small domesticated carnivorous mammal " * (i % 4 + 1)) for i in range(12)]


def test_onnx_fp32_equals_torch_fp32(tiny_model_dir):
    torch_logits = TorchEngine(str(tiny_model_dir)).score(PAIRS).logits
    onnx_engine = OnnxEngine(str(tiny_model_dir))
    np.testing.assert_allclose(onnx_engine.score(PAIRS).logits, torch_logits, atol=1e-4)
    assert onnx_engine.onnx_path.parent.name == "rag-rerank"  # cached next to the model
    again = OnnxEngine(str(tiny_model_dir))  # reuses the cached export
    assert again.onnx_path == onnx_engine.onnx_path


def test_int8_keeps_the_ranking_close(minilm_ce_dir):
    fp32 = create_engine(str(minilm_ce_dir), backend="onnx", quantize="none").score(PAIRS).logits
    int8_engine = create_engine(str(minilm_ce_dir), backend="onnx", quantize="int8")
    assert int8_engine.describe()["quantize"] == "int8"
    int8 = int8_engine.score(PAIRS).logits
    assert np.abs(int8 - fp32).max() < 0.05
    assert "int8" in int8_engine.describe()["onnx"]


def test_pinned_backends_are_built_as_asked(tiny_model_dir):
    # (what backend="auto" picks is measured: tests/rag_core/engines/test_select.py)
    onnx = create_engine(str(tiny_model_dir), backend="onnx", quantize="none", device="cpu")
    assert (onnx.backend, onnx.describe()["quantize"]) == ("onnx", "none")
    assert create_engine(str(tiny_model_dir), backend="torch").backend == "torch"


def test_cuda_out_of_memory_halves_the_batch_until_it_fits(tiny_model_dir, monkeypatch):
    engine = TorchEngine(str(tiny_model_dir), batch_size=16)
    expected = engine.score(PAIRS).logits
    original = engine._run
    sizes: list[int] = []

    def tight_memory(batch, start, stop):
        sizes.append(stop - start)
        if stop - start > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(batch, start, stop)

    monkeypatch.setattr(engine, "_run", tight_memory)
    np.testing.assert_allclose(engine.score(PAIRS).logits, expected, atol=1e-5)
    assert sizes[0] == 12 and min(sizes) <= 3

    def no_memory_at_all(batch, start, stop):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(engine, "_run", no_memory_at_all)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        engine.score(PAIRS[:4])


@pytest.mark.parametrize(("kind", "native"), [("avx2", False), ("amx", True)])
def test_a_pinned_float16_runs_float16_and_says_whether_the_cpu_has_it(tiny_model_dir, kind, native):
    from rag_core.engines._cpu import simulate_cpu

    with simulate_cpu(kind):
        engine = TorchEngine(str(tiny_model_dir), precision="float16")
    assert engine.describe()["dtype"] == "float16" and engine.native is native
    assert engine.engine_name == "torch-fp16"
    reference = TorchEngine(str(tiny_model_dir), precision="float32").score(PAIRS).logits
    assert np.abs(engine.score(PAIRS).logits - reference).max() < 0.1  # emulated or not, the same function


def test_micro_batcher_merges_concurrent_requests_and_splits_results():
    gate = threading.Event()

    def slow_overlap(q: str, p: str) -> float:
        gate.wait(5)
        return float(len(set(q.split()) & set(p.split())))

    engine = CallableEngine(slow_overlap)
    batcher = MicroBatcher(engine, wait_ms=20)
    requests = [[(f"q{i} shared", f"p shared q{i}"), (f"q{i} shared", "nothing")] for i in range(8)]

    async def main():
        futures = [asyncio.wrap_future(batcher.submit(r)) for r in requests]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*futures)

    results = asyncio.run(main())
    for result in results:
        assert result.logits.tolist() == [2.0, 0.0]
    assert engine.pairs_scored == 16
    assert engine.calls < 8  # merged
    batcher.close()
    with pytest.raises(RuntimeError):
        batcher.submit([("q", "p")])


def test_micro_batcher_delivers_engine_errors_to_every_caller():
    def boom(q: str, p: str) -> float:
        raise ValueError("engine failure")

    batcher = MicroBatcher(CallableEngine(boom), wait_ms=1)
    with pytest.raises(ValueError, match="engine failure"):
        batcher.score([("q", "p")])
    batcher.close()


def test_onnx_only_folder_without_config(tmp_path, tiny_model_dir):
    import shutil

    engine = OnnxEngine(str(tiny_model_dir))
    folder = tmp_path / "onnx-only"
    folder.mkdir()
    shutil.copy(engine.onnx_path, folder / "model.onnx")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    onnx_only = OnnxEngine(str(folder))
    np.testing.assert_allclose(onnx_only.score(PAIRS).logits, engine.score(PAIRS).logits, atol=1e-5)
    with pytest.raises(ModelLoadError):
        OnnxEngine(str(tmp_path / "nothing-here"))


def test_a_shipped_quantised_file_is_used_for_int8(tmp_path, tiny_model_dir):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder, ignore=shutil.ignore_patterns("onnx"))
    ours = OnnxEngine(str(folder), quantize="int8")
    (folder / "onnx").mkdir(exist_ok=True)
    shutil.copy(ours.onnx_path, folder / "onnx" / "model_quantized.onnx")
    shipped = OnnxEngine(str(folder), quantize="int8")
    assert shipped.onnx_path == folder / "onnx" / "model_quantized.onnx"
    np.testing.assert_allclose(shipped.score(PAIRS).logits, ours.score(PAIRS).logits, atol=1e-6)
