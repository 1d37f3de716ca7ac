"""The Typer application. Every command is registered here, in one place; command modules
define plain functions and never import this module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from rag_rerank.cli._console import console, err_console, setup_logging

__all__ = ["app", "build_app", "console", "err_console", "main", "setup_logging"]

app = typer.Typer(
    name="rag-rerank",
    help="Two-stage retrieval for RAG: hybrid recall and cross-encoder reranking.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
_registered = False


def build_app() -> typer.Typer:
    """The ``rag-rerank`` Typer application with every command registered (idempotent): what the
    console script runs, and what tests invoke with ``typer.testing.CliRunner``."""
    global _registered
    if _registered:
        return app
    from rag_rerank.cli import (
        _bench,
        _demo,
        _drill,
        _engines,
        _eval,
        _eval_retrieval,
        _index,
        _loadtest,
        _models,
        _serve,
        _suite,
        _train,
    )

    commands: dict[str, Callable[..., Any]] = {
        "serve": _serve.serve,
        "demo": _demo.demo,
        "rerank": _demo.rerank,
        "index": _index.index,
        "search": _index.search,
        "eval": _eval.eval_command,
        "eval-retrieval": _eval_retrieval.eval_retrieval,
        "eval-suite": _suite.eval_suite,
        "bench": _bench.bench,
        "train-data": _train.train_data,
        "train": _train.train,
        "student-init": _train.student_init,
        "loadtest": _loadtest.loadtest,
        "drill": _drill.drill,
        "models": _models.models,
        "engines": _engines.engines,
    }
    for name, command in commands.items():
        app.command(name)(command)
    _registered = True
    return app


def main() -> None:
    build_app()()
