"""Rebuilding a trainable checkpoint from an int8 ONNX BERT cross-encoder, and cutting students from it.

A dynamically quantised ONNX graph (``onnxruntime.quantization.quantize_dynamic``) keeps every
weight matrix as int8 with a scale and zero point, and the biases and layer norms in float.
:func:`dequantize_onnx_bert` maps each quantised matrix back to its ``transformers`` parameter
(by following the graph from the ``MatMulInteger`` to the bias it adds) and saves a float32
``BertForSequenceClassification`` folder: the same network, with weights rounded to the int8 grid
and activations in float32 (no run-time activation quantisation).

:func:`layer_subset` builds a smaller student from such a teacher: the embeddings, the chosen
encoder layers, the pooler and the head are copied, so the student starts as a working reranker
rather than from a sentence-embedding model.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag_core._errors import ModelLoadError

__all__ = ["dequantize_onnx_bert", "layer_subset"]

logger = logging.getLogger(__name__)

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _dequantize(q: Any, scale: Any, zero: Any) -> np.ndarray:
    from onnx import numpy_helper

    values = numpy_helper.to_array(q).astype(np.float32)
    s = numpy_helper.to_array(scale).astype(np.float32)
    z = numpy_helper.to_array(zero).astype(np.float32)
    return (values - z) * s


def dequantize_onnx_bert(
    onnx_path: str | Path, out_dir: str | Path, *, tokenizer_dir: str | Path | None = None
) -> Path:
    """Save the int8 ONNX BERT cross-encoder at ``onnx_path`` as a float32 transformers folder.

    Raises :class:`ModelLoadError` when the graph is not a quantised BERT sequence classifier.
    """
    import onnx
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    source = Path(onnx_path)
    out = Path(out_dir)
    graph = onnx.load(str(source)).graph
    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:  # the exporter shares equal tensors (e.g. zero biases) through Identity nodes
        if node.op_type == "Identity" and node.input and node.input[0] in inits and node.output[0] not in inits:
            inits[node.output[0]] = inits[node.input[0]]
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def quantised(stem: str) -> np.ndarray:
        return _dequantize(inits[stem + "_quantized"], inits[stem + "_scale"], inits[stem + "_zero_point"])

    state: dict[str, np.ndarray] = {}
    for name, tensor in inits.items():  # float parameters keep their names
        if name.startswith(("bert.", "classifier.")) and tensor.data_type == onnx.TensorProto.FLOAT and tensor.dims:
            from onnx import numpy_helper

            state[name] = numpy_helper.to_array(tensor).astype(np.float32)
    for param in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        stem = f"bert.embeddings.{param}.weight"
        if stem + "_quantized" not in inits:
            raise ModelLoadError(str(source), f"no quantised {stem}: not a dynamically quantised BERT graph")
        state[stem] = quantised(stem)
    for node in graph.node:  # each MatMulInteger feeds (through Cast/Mul) the Add of its bias
        if node.op_type != "MatMulInteger":
            continue
        weight = node.input[1]
        stem = weight.removesuffix("_quantized")
        current, bias = node, None
        for _ in range(6):
            following = consumers.get(current.output[0], [])
            if not following:
                break
            current = following[0]
            found = [i for i in current.input if i in inits and i.endswith(".bias")]
            if current.op_type == "Add" and found:
                bias = found[0]
                break
        if bias is None:
            raise ModelLoadError(str(source), f"cannot tell which layer {weight} belongs to")
        # MatMul weights are (in, out); torch's Linear stores (out, in)
        state[bias.removesuffix(".bias") + ".weight"] = quantised(stem).T.copy()

    layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("bert.encoder.layer."))
    hidden = state["bert.embeddings.word_embeddings.weight"].shape[1]
    intermediate = state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0]
    heads = _attention_heads(graph, inits, hidden)
    config = BertConfig(  # type: ignore[call-arg]  # num_labels etc. are PretrainedConfig kwargs
        vocab_size=state["bert.embeddings.word_embeddings.weight"].shape[0],
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=state["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state["bert.embeddings.token_type_embeddings.weight"].shape[0],
        num_labels=state["classifier.weight"].shape[0],
        id2label={0: "LABEL_0"},
        label2id={"LABEL_0": 0},
    )
    model = BertForSequenceClassification(config)
    expected = set(model.state_dict())
    missing = expected - set(state) - {"bert.embeddings.position_ids", "bert.embeddings.token_type_ids"}
    if missing:
        raise ModelLoadError(str(source), f"the graph lacks {sorted(missing)[:5]}")
    result = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items() if k in expected}, strict=False)
    logger.debug("dequantised load: %s", result)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer_source = Path(tokenizer_dir) if tokenizer_dir is not None else source.parent
    for name in _TOKENIZER_FILES:
        if (tokenizer_source / name).is_file():
            shutil.copyfile(tokenizer_source / name, out / name)
    logger.info("dequantised %s (%d layers, %d wide) into %s", source, layers, hidden, out)
    return out


def _attention_heads(graph: Any, inits: dict[str, Any], hidden: int) -> int:
    """The head count, read from the constant shape of the first (batch, seq, heads, size) Reshape."""
    from onnx import numpy_helper

    constants: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    constants[node.output[0]] = numpy_helper.to_array(attr.t)
    for node in graph.node:
        if node.op_type == "Concat" and "attention/self" in node.name:
            parts = [constants.get(i) for i in node.input]
            values = [int(p.reshape(-1)[0]) for p in parts if p is not None and p.size == 1]
            for a, b in itertools.pairwise(values):
                if a * b == hidden and a > 0 and b > 0:
                    return a
    return max(1, hidden // 32)  # MiniLM / BERT convention: 32 or 64 dimensions per head


def layer_subset(teacher_dir: str | Path, layers: Sequence[int], out_dir: str | Path) -> Path:
    """A student with the teacher's embeddings, encoder ``layers`` (in order), pooler and head."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    teacher = AutoModelForSequenceClassification.from_pretrained(str(teacher_dir), dtype=torch.float32)
    total = teacher.config.num_hidden_layers
    if not layers or any(i < 0 or i >= total for i in layers):
        raise ValueError(f"layers must be a non-empty list of indices below {total}, got {list(layers)}")
    encoder = teacher.base_model.encoder
    encoder.layer = torch.nn.ModuleList([encoder.layer[i] for i in layers])
    teacher.config.num_hidden_layers = len(layers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    teacher.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(teacher_dir)).save_pretrained(str(out))
    (out / "student_of.json").write_text(
        json.dumps({"teacher": str(teacher_dir), "layers": list(layers)}, indent=2) + "\n", encoding="utf-8"
    )
    logger.info("student of %s with layers %s saved to %s", teacher_dir, list(layers), out)
    return out
