"""The ``rag-rerank`` command line (Typer + Rich)."""

from __future__ import annotations

from rag_rerank.cli._app import app, main

__all__ = ["app", "main"]
