"""The Typer application; each command lives in its own module and registers itself here."""

from __future__ import annotations

import logging
import os

import typer
from rich.console import Console
from rich.logging import RichHandler

__all__ = ["app", "console", "main", "setup_logging"]

app = typer.Typer(
    name="rag-rerank",
    help="Two-stage retrieval for RAG: hybrid recall and cross-encoder reranking.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def setup_logging(level: str = "INFO") -> None:
    """Rich logs on stderr; noisy third-party loggers kept at WARNING."""
    logging.basicConfig(
        level=level.upper(),
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=False, level=level.upper())],
        force=True,
    )
    for noisy in (
        "httpx",
        "httpcore",
        "urllib3",
        "sentence_transformers",
        "transformers",
        "huggingface_hub",
        "jieba",
        "bm25s",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def _register_commands() -> None:
    from rag_core.cli import _bench, _demo, _eval, _eval_retrieval, _index, _loadtest, _serve, _train  # noqa: F401


def main() -> None:
    _register_commands()
    app()
