"""Late interaction (ColBERT) behind the scoring seam: query and passage are encoded apart into
one vector per token, and a pair's score is MaxSim: for each query token, the best cosine with
any passage token, summed.

* Checkpoints: a ColBERT / PyLate folder (BERT-like encoder + the linear projection: PyLate's
  ``1_Dense`` module, or Stanford ColBERT's ``linear.weight`` beside the encoder's weights), run
  with torch; or an ONNX graph of the encoder (``model.onnx``), such as the ``quality`` extra's
  answerai-colbert-small backbone, whose projection is not shipped: MaxSim then runs on the raw
  384-d token states (see the built-in entry's card for what that costs).
* Markers and query augmentation as the checkpoint was trained: ``[unused0]`` / ``[unused1]``
  after ``[CLS]`` (Stanford ColBERT, PyLate), queries padded with ``[MASK]`` to ``query_length``
  tokens; documents cut to ``document_length`` tokens, punctuation tokens skipped.
* Passage vectors are cached by content (an LRU of ``cache_mb`` megabytes, float32 by default,
  ``vector_dtype="float16"`` halves it), so reranking the same passages again (the next query over
  the same index, a follow-up) costs only the query.

``PairScores.logits`` holds MaxSim divided by the query's token count: the mean best cosine, in
[-1, 1], comparable across queries of different lengths.
"""

from __future__ import annotations

import hashlib
import json
import logging
import string
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rag_core._errors import ModelLoadError
from rag_core._hub import onnx_only, resolve_model_dir
from rag_core.engines._base import PairScores, ScoringEngine
from rag_core.engines._loading import default_threads

__all__ = ["ColbertEngine", "colbert_settings"]

logger = logging.getLogger(__name__)


def colbert_settings(folder: Path) -> dict[str, Any]:
    """Markers, lengths and augmentation a ColBERT checkpoint declares (PyLate's
    ``config_sentence_transformers.json``, Stanford ColBERT's ``artifact.metadata``)."""
    found: dict[str, Any] = {}
    pylate = folder / "config_sentence_transformers.json"
    if pylate.is_file():
        data = json.loads(pylate.read_text(encoding="utf-8"))
        found.update(
            query_marker=data.get("query_prefix"),
            document_marker=data.get("document_prefix"),
            query_length=data.get("query_length"),
            document_length=data.get("document_length"),
            augment=data.get("do_query_expansion", True),
        )
    stanford = folder / "artifact.metadata"
    if stanford.is_file():
        data = json.loads(stanford.read_text(encoding="utf-8"))
        found.update(
            query_marker=data.get("query_token_id"),
            document_marker=data.get("doc_token_id"),
            query_length=data.get("query_maxlen"),
            document_length=data.get("doc_maxlen"),
            mask_punctuation=data.get("mask_punctuation"),
        )
    return {k: v for k, v in found.items() if v is not None}


def _projection(folder: Path) -> np.ndarray | None:
    """The linear projection of a ColBERT checkpoint, as a (dim, hidden) array, if it has one."""
    from safetensors.numpy import load_file

    dense = folder / "1_Dense"
    for path in (dense / "model.safetensors", folder / "model.safetensors"):
        if path.is_file():
            weights = load_file(str(path))
            for key in ("linear.weight", "colbert_linear.weight"):
                if key in weights:
                    return np.asarray(weights[key], dtype=np.float32)
    return None


class ColbertEngine(ScoringEngine):
    """MaxSim of query and passage token vectors (see the module docstring)."""

    backend: ClassVar[str] = "colbert"

    def __init__(
        self,
        model_name: str,
        *,
        query_marker: str | None = "[unused0]",
        document_marker: str | None = "[unused1]",
        query_length: int = 32,
        document_length: int = 300,
        augment: bool = True,
        mask_punctuation: bool = True,
        require_projection: bool = True,
        cache_mb: float = 256.0,
        vector_dtype: str = "float32",
        batch_size: int = 32,
        threads: int | None = None,
        revision: str | None = None,
        **_: Any,
    ) -> None:
        from tokenizers import Tokenizer

        folder = resolve_model_dir(model_name, revision)
        declared = colbert_settings(folder)
        self.query_marker = declared.get("query_marker", query_marker)
        self.document_marker = declared.get("document_marker", document_marker)
        self.query_length = int(declared.get("query_length", query_length))
        self.document_length = int(declared.get("document_length", document_length))
        self.augment = bool(declared.get("augment", augment))
        self.threads = threads or default_threads()
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:
            raise ModelLoadError(model_name, f"cannot load its tokenizer.json: {exc}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        vocab = self.tokenizer.get_vocab()
        self._cls, self._sep = vocab.get("[CLS]", 101), vocab.get("[SEP]", 102)
        self._mask, self._pad = vocab.get("[MASK]", 103), vocab.get("[PAD]", 0)
        self._q = vocab.get(self.query_marker) if self.query_marker else None
        self._d = vocab.get(self.document_marker) if self.document_marker else None
        punctuation = {vocab[c] for c in string.punctuation if c in vocab}
        self._skip = punctuation if bool(declared.get("mask_punctuation", mask_punctuation)) else set()
        self.projection = None if onnx_only(folder) else _projection(folder)
        if onnx_only(folder):
            self._load_onnx(folder / "model.onnx", model_name)
        else:
            if self.projection is None and require_projection:
                raise ModelLoadError(
                    model_name,
                    "no ColBERT projection layer (PyLate's 1_Dense, or linear.weight) in the checkpoint: "
                    "MaxSim on an encoder's raw states is not what a ColBERT model was trained for",
                    remedies=["Use RERANKER_TYPE=bi_encoder for a sentence-embedding model."],
                )
            self._load_torch(folder, model_name)
        self.model_name = model_name
        self.batch_size = batch_size
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = max(0, int(cache_mb * 2**20))
        self._dtype = np.dtype(vector_dtype)
        self._lock = threading.Lock()
        self.cache_hits = 0
        logger.info(
            "ColBERT engine for %s (%s, projection %s, markers %s/%s, augment %s)",
            model_name,
            self._runtime,
            "none" if self.projection is None else f"{self.projection.shape[1]}->{self.projection.shape[0]}",
            self.query_marker,
            self.document_marker,
            self.augment,
        )

    # -- runtimes -------------------------------------------------------------------------------
    def _load_onnx(self, graph: Path, model_name: str) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelLoadError(model_name, f"ONNX Runtime cannot open {graph}: {exc}") from exc
        self._inputs = [i.name for i in self._session.get_inputs()]
        if len(self._session.get_outputs()[0].shape) != 3:
            raise ModelLoadError(model_name, f"{graph.name}'s first output is not token states: not an encoder")
        from rag_core.engines._onnx import graph_quantization

        # a dynamically quantised graph scales activations over the whole batch, padding included:
        # a passage's vectors would depend on its batch-mates, so such graphs encode one text a call
        self._per_row = graph_quantization(graph) == "dynamic-int8"
        self._runtime = "onnx"

    def _load_torch(self, folder: Path, model_name: str) -> None:
        import torch
        from transformers import AutoModel

        torch.set_num_threads(self.threads)
        try:
            self._model = AutoModel.from_pretrained(str(folder), dtype=torch.float32).eval()
        except Exception as exc:
            raise ModelLoadError(model_name, f"{type(exc).__name__}: {exc}") from exc
        self._per_row = False
        self._runtime = "torch"

    def _states(self, rows: list[list[int]], attended: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Normalised (projected) token states; ``attended[i]``: how many leading tokens of row
        ``i`` the attention mask covers (default: all of them)."""
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self._pad, dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row) if attended is None else attended[i]] = 1
        if self._runtime == "onnx":
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            states = self._session.run(None, {n: feed[n] for n in self._inputs})[0]
        else:
            import torch

            with torch.inference_mode():
                states = (
                    self._model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
                    .last_hidden_state.float()
                    .numpy()
                )
        states = np.asarray(states, dtype=np.float32)
        if self.projection is not None:
            states = states @ self.projection.T
        norms = np.linalg.norm(states, axis=-1, keepdims=True)
        return states / np.maximum(norms, 1e-12), mask

    # -- encoding -------------------------------------------------------------------------------
    def _ids(self, text: str, marker: int | None, length: int) -> list[int]:
        body = self.tokenizer.encode(text, add_special_tokens=False).ids
        head = [self._cls] + ([marker] if marker is not None else [])
        return head + body[: max(0, length - len(head) - 1)] + [self._sep]

    def encode_query(self, query: str) -> np.ndarray:
        """One vector per query token; with augmentation, ``[MASK]`` tokens pad the query to
        ``query_length`` (not attended to, as ColBERT and PyLate do by default, but each gives a
        vector that MaxSim uses)."""
        ids = self._ids(query, self._q, self.query_length)
        attended = len(ids)
        if self.augment and len(ids) < self.query_length:
            ids = ids + [self._mask] * (self.query_length - len(ids))
        states, _ = self._states([ids], [attended])
        return states[0]

    def encode_documents(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token vectors per passage (cached by content); padding and punctuation dropped."""
        keys = [hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest() for t in texts]
        out: list[np.ndarray | None] = [None] * len(texts)
        with self._lock:
            for i, key in enumerate(keys):
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    out[i] = hit
                    self.cache_hits += 1
        todo = [i for i, v in enumerate(out) if v is None]
        encoded = {i: self._ids(texts[i], self._d, self.document_length) for i in todo}
        order = sorted(todo, key=lambda i: len(encoded[i]))
        step = 1 if self._per_row else self.batch_size
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            states, mask = self._states([encoded[i] for i in chunk])
            for row, i in enumerate(chunk):
                keep = [j for j, tok in enumerate(encoded[i]) if mask[row, j] and tok not in self._skip]
                out[i] = states[row, keep].astype(self._dtype)
        with self._lock:
            for i in todo:
                vectors = out[i]
                if self._cache_limit and vectors is not None and keys[i] not in self._cache:
                    self._cache[keys[i]] = vectors
                    self._cache_bytes += vectors.nbytes
            while self._cache_bytes > self._cache_limit and self._cache:
                _, evicted = self._cache.popitem(last=False)
                self._cache_bytes -= evicted.nbytes
        return [v for v in out if v is not None]

    @staticmethod
    def maxsim(query: np.ndarray, passage: np.ndarray) -> float:
        """Sum over query tokens of the best cosine with any passage token."""
        return float((query @ passage.astype(np.float32).T).max(axis=1).sum())

    def score(self, pairs: Sequence[tuple[str, str]]) -> PairScores:
        if not pairs:
            return PairScores.empty()
        by_query: dict[str, list[int]] = {}
        for i, (query, _) in enumerate(pairs):
            by_query.setdefault(query, []).append(i)
        logits = np.zeros(len(pairs), dtype=np.float32)
        for query, rows in by_query.items():
            q = self.encode_query(query)
            passages = self.encode_documents([pairs[i][1] for i in rows])
            for i, p in zip(rows, passages, strict=True):
                logits[i] = self.maxsim(q, p) / len(q)
        return PairScores(logits, np.ones(len(pairs), dtype=np.int64), np.zeros(len(pairs), dtype=bool))

    @property
    def engine_name(self) -> str:
        return f"colbert-{self._runtime}"

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "runtime": self._runtime,
            "projection": None if self.projection is None else list(self.projection.shape),
            "query_marker": self.query_marker,
            "document_marker": self.document_marker,
            "query_length": self.query_length,
            "document_length": self.document_length,
            "augment": self.augment,
            "cached_passages": len(self._cache),
            "cache_mb": round(self._cache_bytes / 2**20, 1),
            "cache_hits": self.cache_hits,
        }
