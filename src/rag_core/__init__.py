"""rag-rerank: two-stage retrieval for RAG (hybrid recall, cross-encoder reranking)."""

from __future__ import annotations

import logging

from rag_core._documents import Document, content_hash, to_document, to_documents
from rag_core._errors import (
    ConfigurationError,
    DeadlineExceededError,
    InvalidInputError,
    MissingExtraError,
    ModelLoadError,
    OverloadedError,
    RagRerankError,
    RerankerUnavailableError,
)

__all__ = [
    "ConfigurationError",
    "DeadlineExceededError",
    "Document",
    "InvalidInputError",
    "MissingExtraError",
    "ModelLoadError",
    "OverloadedError",
    "RagRerankError",
    "RerankerUnavailableError",
    "__version__",
    "content_hash",
    "to_document",
    "to_documents",
]

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
