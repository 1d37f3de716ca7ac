"""Text embeddings behind a small interface (:class:`Embedder`)."""

from __future__ import annotations

from rag_core.embeddings._base import Embedder
from rag_core.embeddings._onnx import OnnxEmbedder
from rag_core.embeddings._sentence_transformers import SentenceTransformerEmbedder, load_embedder

__all__ = ["Embedder", "OnnxEmbedder", "SentenceTransformerEmbedder", "load_embedder"]
