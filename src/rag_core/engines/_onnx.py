"""The ONNX Runtime engine: fused graph, optional int8, Rust tokenisation, token-budget batches."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rag_core._errors import ModelLoadError
from rag_core.engines._base import TransformerEngine, logits_to_scores
from rag_core.engines._cpu import cpu_flags
from rag_core.engines._loading import default_threads, open_checkpoint
from rag_core.engines._onnx_export import ensure_onnx
from rag_core.engines._tokenization import EncodedBatch, LongDocumentMode

__all__ = ["OnnxEngine"]

logger = logging.getLogger(__name__)


def _provided_onnx(model_name: str, folder: Path, revision: str | None) -> Path | None:
    """An fp32 ``onnx/model.onnx`` that ships with the model (local folder or hub repository)."""
    for local in (folder / "onnx" / "model.onnx", folder / "model.onnx"):
        if local.is_file():
            return local
    if Path(model_name).expanduser().is_dir() or model_name.startswith("builtin:"):
        return None
    from rag_core._hub import fetch_optional_file

    return fetch_optional_file(model_name, "onnx/model.onnx", revision)


def quantized_candidates() -> list[str]:
    """Quantised exports as the sentence-transformers / optimum tooling names them, best first."""
    names = ["onnx/model_quantized.onnx", "onnx/model_int8.onnx"]
    flags = cpu_flags()
    if "avx512_vnni" in flags:
        names.insert(0, "onnx/model_qint8_avx512_vnni.onnx")
    if "avx2" in flags:
        names.append("onnx/model_quint8_avx2.onnx")
    return names


def _provided_int8(model_name: str, folder: Path, revision: str | None) -> Path | None:
    """A quantised ONNX file that ships with the model, matching this CPU."""
    names = quantized_candidates()
    for name in names:
        if (folder / name).is_file():
            return folder / name
    if Path(model_name).expanduser().is_dir() or model_name.startswith("builtin:"):
        return None
    from rag_core._hub import fetch_optional_file

    return fetch_optional_file(model_name, names[0], revision)  # one try on the hub: the best variant


class OnnxEngine(TransformerEngine):
    """Runs the checkpoint with ONNX Runtime on CPU.

    With ``quantize="int8"``, a quantised file that ships with the model for this CPU
    (``onnx/model_qint8_avx512_vnni.onnx``, ``onnx/model_quantized.onnx``, ...) is used as is.
    Otherwise the model's own ``onnx/model.onnx`` (or, lacking one, a torch export made once) is
    fused for the architecture and, for int8, dynamically quantised; all of it is cached (see
    ``_onnx_export``).
    """

    backend: ClassVar[str] = "onnx"

    def __init__(
        self,
        model_name: str,
        *,
        quantize: str = "none",
        batch_size: int = 32,
        max_length: int | None = None,
        max_batch_tokens: int = 8192,
        long_documents: LongDocumentMode = "chunk",
        max_windows: int | None = None,
        threads: int | None = None,
        revision: str | None = None,
        onnx_path: str | Path | None = None,
    ) -> None:
        import onnxruntime as ort

        folder, config, tokenizer = open_checkpoint(
            model_name, max_length=max_length, long_documents=long_documents, revision=revision, max_windows=max_windows
        )
        super().__init__(model_name, tokenizer, batch_size=batch_size, max_batch_tokens=max_batch_tokens)
        self.quantize = quantize
        if onnx_path is None and not (folder / "config.json").is_file():
            onnx_path = folder / "model.onnx"  # ONNX-only folder: run the graph as shipped
        if onnx_path is None and quantize == "int8":
            onnx_path = _provided_int8(model_name, folder, revision)
        if onnx_path is not None:
            path = Path(onnx_path)
        else:
            try:
                path = ensure_onnx(
                    folder,
                    config,
                    quantize=quantize == "int8",
                    provided=_provided_onnx(model_name, folder, revision),
                )
            except ModelLoadError:
                raise
            except Exception as exc:
                raise ModelLoadError(model_name, f"ONNX export failed: {type(exc).__name__}: {exc}") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelLoadError(model_name, f"ONNX Runtime cannot open {path}: {exc}") from exc
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        head = outputs.get("logits")
        if head is None or len(head) != 2 or head[1] not in (1, 2):
            from rag_core.engines._loading import _family_remedies

            raise ModelLoadError(
                model_name,
                f"{path.name} outputs {', '.join(f'{n} {s}' for n, s in outputs.items())}, not a relevance head "
                "(logits of shape [batch, 1] or [batch, 2]): it is not a cross-encoder",
                remedies=_family_remedies(list(config.get("architectures") or [])),
            )
        self.onnx_path = path
        self.graph_quantization = graph_quantization(path)
        if self.graph_quantization != "none" and quantize != "int8":
            logger.info("%s is an already-quantised graph (%s): it runs as int8", path.name, self.graph_quantization)
        self.threads = options.intra_op_num_threads
        self._inputs = [i.name for i in self.session.get_inputs()]
        logger.info(
            "ONNX engine for %s: %s (%d threads, max_length=%d)", model_name, path.name, self.threads, self.max_length
        )

    def _forward(self, batch: EncodedBatch) -> np.ndarray:
        feed = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "token_type_ids": batch.token_type_ids,
        }
        (logits,) = self.session.run(["logits"], {name: feed[name] for name in self._inputs})
        return logits_to_scores(np.asarray(logits, dtype=np.float32))

    @property
    def engine_name(self) -> str:
        return "onnx-int8" if self.graph_quantization != "none" else "onnx-fp32"

    def describe(self) -> dict[str, Any]:
        quantized = self.graph_quantization != "none"
        return {
            **super().describe(),
            "quantize": "int8" if quantized else "none",
            "quantization": self.graph_quantization,
            "precision": "int8 weights, float32 activations" if quantized else "float32",
            "dtype": "int8" if quantized else "float32",
            "onnx": self.onnx_path.name,
            "threads": self.threads,
        }


def graph_quantization(path: Path) -> str:
    """What an ONNX graph runs: ``none`` (float), ``dynamic-int8`` (weights int8, activations
    quantised at run time) or ``static-int8`` (QDQ / QLinear with calibrated activations)."""
    import onnx

    try:
        ops = {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
    except Exception:  # an unreadable graph fails later, in the session, with its own error
        return "none"
    if ops & {"DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul"}:
        return "dynamic-int8"
    if ops & {"QuantizeLinear", "QLinearMatMul", "QGemm", "QAttention"}:
        return "static-int8"
    return "none"
