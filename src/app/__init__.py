"""The specification's import paths for the service (``app.dependencies.get_reranker``), kept for
compatibility: the service lives in :mod:`rag_rerank.service`; this package only re-exports it."""

from __future__ import annotations

from rag_rerank.service import create_app

__all__ = ["create_app"]
