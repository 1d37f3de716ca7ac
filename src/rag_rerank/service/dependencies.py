"""FastAPI dependencies (the spec's ``app.dependencies.get_reranker``)."""

from __future__ import annotations

import secrets

from fastapi import Depends, HTTPException, Request, status

from rag_core.rerankers import BaseReranker
from rag_rerank.service.services import Services
from rag_rerank.settings import AppSettings

__all__ = ["get_reranker", "get_services", "get_settings", "require_api_key"]


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(services: Services = Depends(get_services)) -> AppSettings:
    return services.settings


def get_reranker(services: Services = Depends(get_services)) -> BaseReranker | None:
    """The loaded reranker, or ``None`` when ``RERANKER_ENABLED=false`` (or it failed to load)."""
    return services.reranker


def require_api_key(request: Request, settings: AppSettings = Depends(get_settings)) -> None:
    """With ``API_KEY`` set, requests need ``Authorization: Bearer <API_KEY>``."""
    if settings.api_key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = settings.api_key.get_secret_value()
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid API key (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
