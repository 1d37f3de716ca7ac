"""Embeddings from an ONNX encoder folder (``model.onnx`` + ``tokenizer.json``): the int8
``BAAI/bge-small-en`` that the ``quality`` extra ships, or any BERT-like export.

Behaviour the model was trained with travels with it: the pooling (``cls`` for BGE, ``mean`` for
sentence-transformers models) and the instruction prepended to queries (BGE's
``"Represent this sentence for searching relevant passages: "``) are options of the built-in
entry, or of the constructor for other folders.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from rag_core._errors import ModelLoadError
from rag_core._hub import resolve_model_dir
from rag_core.embeddings._base import Embedder

__all__ = ["OnnxEmbedder"]

logger = logging.getLogger(__name__)

Pooling = Literal["cls", "mean"]


class OnnxEmbedder(Embedder):
    """Normalised sentence vectors from an ONNX encoder (CPU, ONNX Runtime).

    ``query_instruction`` is prepended to queries only (:meth:`embed_query`), never to passages.
    Texts are sorted by length and embedded in batches padded to their longest member, so short
    passages do not pay for long ones.
    """

    def __init__(
        self,
        model_name: str,
        *,
        pooling: Pooling = "cls",
        query_instruction: str = "",
        max_length: int = 512,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from rag_core.engines import default_threads

        folder = Path(resolve_model_dir(model_name))
        graph = folder / "model.onnx"
        if not graph.is_file() or not (folder / "tokenizer.json").is_file():
            raise ModelLoadError(model_name, f"{folder} holds no model.onnx and tokenizer.json")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:
            raise ModelLoadError(model_name, f"{type(exc).__name__}: {exc}") from exc
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        inputs = {i.name for i in self._session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise ModelLoadError(model_name, f"{graph.name} takes {sorted(inputs)}, not input_ids and attention_mask")
        self._token_types = "token_type_ids" in inputs
        from rag_core.engines._onnx import graph_quantization

        # dynamic int8 scales activations per call, padding included: one text a call keeps a
        # text's vector independent of its batch-mates
        self._per_row = graph_quantization(graph) == "dynamic-int8"
        hidden = self._session.get_outputs()[0].shape
        if len(hidden) != 3:
            raise ModelLoadError(
                model_name, f"{graph.name}'s first output is not token states (shape {hidden}); not an encoder"
            )
        self.model_name = model_name
        self.pooling: Pooling = pooling
        self.query_instruction = query_instruction
        self.batch_size = batch_size
        self.dimension = int(hidden[2]) if isinstance(hidden[2], int) else int(self._embed(["x"]).shape[1])

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        out = np.empty((len(texts), 0), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        rows: dict[int, np.ndarray] = {}
        step = 1 if self._per_row else self.batch_size
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if self._token_types:
                feed["token_type_ids"] = np.zeros_like(ids)
            states = self._session.run(None, feed)[0]
            if self.pooling == "cls":
                pooled = states[:, 0]
            else:
                weights = mask[:, :, None].astype(np.float32)
                pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
            for row, i in enumerate(chunk):
                rows[i] = pooled[row]
        if rows:
            out = np.stack([rows[i] for i in range(len(texts))]).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._embed(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([self.query_instruction + text])[0]
