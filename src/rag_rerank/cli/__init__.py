"""The ``rag-rerank`` command line (Typer + Rich)."""

from __future__ import annotations

from rag_rerank.cli._app import app, build_app, main

__all__ = ["app", "build_app", "main"]
