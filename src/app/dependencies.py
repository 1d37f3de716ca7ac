"""``from app.dependencies import get_reranker`` (the specification's path): re-exports
:mod:`rag_rerank.service.dependencies`."""

from __future__ import annotations

from rag_rerank.service.dependencies import get_reranker, get_services, get_settings, require_api_key

__all__ = ["get_reranker", "get_services", "get_settings", "require_api_key"]
