"""The HTTP service: ``POST /query`` (retrieve, then rerank), a Cohere-compatible ``/v1/rerank``,
health, readiness and Prometheus metrics."""

from __future__ import annotations

from rag_rerank.service.main import create_app

__all__ = ["create_app"]
