"""The engine chosen by measurement: pins win, CPU support is detected (through the seam),
decisions are cached and invalidated, and every precision stays within its fidelity bound."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest

from rag_core.engines import TorchEngine, _cpu, _select, create_engine
from rag_core.engines._select import FIDELITY_BOUND, EngineSpec, eligible_specs

PAIRS = [
    ("how do I catch an exception", "Use try and except; finally runs clean-up code either way."),
    ("how do I catch an exception", "Bread is made from flour, water, salt and yeast."),
    ("what does the with statement do", "The with statement calls __enter__ and __exit__."),
    ("what does the with statement do", "Paris is the capital of France."),
]
SMALL_CALIBRATION = [[(q, p) for q, p in PAIRS[:2]], [(q, p) for q, p in PAIRS[2:]]]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_RERANK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_select, "calibration_pairs", lambda *a, **k: SMALL_CALIBRATION)
    return tmp_path / "cache" / "engine-choices.json"


def test_pins_restrict_the_candidates():
    everything = {s.name for s in eligible_specs("cpu", native={"float32", "bfloat16"})}
    assert everything == {"torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8"}
    assert {s.name for s in eligible_specs("cpu", backend="torch", native={"float32"})} == {"torch-fp32"}
    assert {s.name for s in eligible_specs("cpu", quantize="int8")} == {"onnx-int8"}
    assert {s.name for s in eligible_specs("cpu", quantize="none", backend="onnx")} == {"onnx-fp32"}
    assert {s.name for s in eligible_specs("cpu", precision="bfloat16", native={"float32"})} == {"torch-bf16"}
    assert {s.name for s in eligible_specs("cuda")} == {"torch-fp32", "torch-fp16", "torch-bf16"}


def test_a_pinned_engine_is_built_without_measuring(tiny_model_dir, cache):
    engine = create_engine(str(tiny_model_dir), backend="torch", precision="float32", quantize="none", device="cpu")
    assert engine.backend == "torch" and engine.selection["measured"] == [] and "pins" in engine.selection["reason"]
    assert not cache.exists()


def test_auto_measures_chooses_within_the_bound_and_caches(tiny_model_dir, cache, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        engine = create_engine(str(tiny_model_dir), device="cpu")
    selection = engine.selection
    rows = {row["engine"]: row for row in selection["measured"]}
    assert {"torch-fp32", "onnx-fp32", "onnx-int8"} <= set(rows)
    chosen = rows[selection["chosen"]]
    assert chosen["qualifies"] and chosen["pairs_per_s"] == max(
        r["pairs_per_s"] for r in rows.values() if r["qualifies"]
    )
    assert rows["onnx-fp32"]["max_abs_logit_delta"] < 1e-3  # ONNX fp32 is the same function
    assert selection["cached"] is False and any("engine for" in r.getMessage() for r in caplog.records)
    assert engine.describe()["selection"]["chosen"] == selection["chosen"]
    stored = json.loads(cache.read_text())
    assert len(stored) == 1 and next(iter(stored.values()))["chosen"] == selection["chosen"]

    again = create_engine(str(tiny_model_dir), device="cpu")
    assert again.selection["cached"] is True and again.selection["chosen"] == selection["chosen"]

    copy = tmp_path / "other-model"  # another model: measured afresh
    shutil.copytree(tiny_model_dir, copy, ignore=shutil.ignore_patterns("onnx"))
    assert create_engine(str(copy), device="cpu").selection["cached"] is False
    assert create_engine(str(copy), device="cpu").selection["cached"] is True
    weights = copy / "model.safetensors"  # the same model, new weights: the decision is stale
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 60))
    assert create_engine(str(copy), device="cpu").selection["cached"] is False
    assert len(json.loads(cache.read_text())) == 3


def test_without_native_bfloat16_the_cpu_falls_back_to_float32_and_says_so_once(tiny_model_dir, monkeypatch, caplog):
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    from rag_core.engines import _torch

    monkeypatch.setattr(_torch, "_WARNED", set())
    with caplog.at_level(logging.WARNING):
        first = TorchEngine(str(tiny_model_dir), precision="bfloat16")
        TorchEngine(str(tiny_model_dir), precision="bfloat16")
    assert first.describe()["dtype"] == "float32" and "no native bfloat16" in first.describe()["precision_note"]
    assert sum("no native bfloat16" in r.getMessage() for r in caplog.records) == 1
    assert "torch-bf16" not in {s.name for s in eligible_specs("cpu")}


def test_with_native_bfloat16_the_weights_are_cast_once(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    engine = TorchEngine(str(tiny_model_dir), precision="bfloat16")
    assert engine.describe()["dtype"] == "bfloat16"
    assert {str(p.dtype) for p in engine.model.parameters()} == {"torch.bfloat16"}


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        (EngineSpec("torch", "bfloat16"), "tiny_model_dir"),
        (EngineSpec("torch", "float16"), "tiny_model_dir"),
        (EngineSpec("onnx", "float32", "none"), "tiny_model_dir"),
        # int8 needs real weights: the tiny model's 32-wide random layers move by > 2 logits under int8
        # (auto measures that and does not pick it); MiniLM's trained encoder is what int8 is for
        (EngineSpec("onnx", "float32", "int8"), "minilm_ce_dir"),
    ],
    ids=lambda v: v.name if isinstance(v, EngineSpec) else v,
)
def test_every_precision_path_stays_within_the_bound(request, monkeypatch, spec, model):
    folder = str(request.getfixturevalue(model))
    monkeypatch.setattr(_cpu, "cpu_flags", lambda: frozenset({"avx512_bf16", "avx512_fp16"}))
    reference = TorchEngine(folder).score(PAIRS).logits
    engine = create_engine(folder, backend=spec.backend, precision=spec.precision, quantize=spec.quantize, device="cpu")
    logits = engine.score(PAIRS).logits
    assert np.abs(logits - reference).max() <= FIDELITY_BOUND["max_abs_logit_delta"]
    for a, b in ((0, 2), (2, 4)):  # each query's better passage stays on top
        assert np.argmax(logits[a:b]) == np.argmax(reference[a:b])
