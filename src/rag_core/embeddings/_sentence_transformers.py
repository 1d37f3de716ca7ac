"""Embeddings with any sentence-transformers model (hub id, local folder or ``builtin:`` name)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from rag_core._errors import ModelLoadError
from rag_core._hub import resolve_model_dir
from rag_core.embeddings._base import Embedder

__all__ = ["SentenceTransformerEmbedder", "load_embedder"]

logger = logging.getLogger(__name__)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model; the default is the shipped ``all-MiniLM-L6-v2``."""

    def __init__(
        self,
        model_name: str = "builtin:all-MiniLM-L6-v2",
        *,
        device: str | None = None,
        batch_size: int = 64,
        max_length: int | None = None,
    ) -> None:
        from sentence_transformers import SentenceTransformer

        from rag_core.engines import pick_device

        folder = resolve_model_dir(model_name)
        try:
            self._model = SentenceTransformer(str(folder), device=pick_device(device), local_files_only=True)
        except Exception as exc:
            raise ModelLoadError(model_name, f"{type(exc).__name__}: {exc}") from exc
        if max_length is not None:
            self._model.max_seq_length = max_length
        self.model_name = model_name
        self.batch_size = batch_size
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = getter()
        self.dimension = int(dim) if dim else int(self._model.encode(["x"]).shape[1])

    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def load_embedder(model_name: str = "builtin:all-MiniLM-L6-v2", device: str | None = None) -> Embedder:
    """A shared embedder per (model, device): loading a model once per process is enough.

    A sentence-transformers folder (or hub id) loads with sentence-transformers; an ONNX-only
    folder (``model.onnx`` + ``tokenizer.json``), such as ``builtin:bge-small-en``, with
    :class:`~rag_core.embeddings.OnnxEmbedder` and the pooling and query instruction its
    built-in entry carries."""
    from rag_core._hub import onnx_only
    from rag_core.models import builtin_options

    options = builtin_options(model_name)
    folder = resolve_model_dir(model_name)
    if onnx_only(folder) and not (folder / "modules.json").is_file():
        from rag_core.embeddings._onnx import OnnxEmbedder

        return OnnxEmbedder(model_name, **options)
    return SentenceTransformerEmbedder(model_name, device=device)
