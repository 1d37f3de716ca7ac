"""``rag-rerank serve``: the HTTP service on uvicorn."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from rag_core.cli._console import console, setup_logging


def curl_examples(base: str, api_key: str | None = None) -> list[str]:
    auth = f" -H 'Authorization: Bearer {api_key}'" if api_key else ""
    query = json.dumps({"query": "How do I catch an exception and clean up afterwards?", "top_k": 20, "top_n": 3})
    from app.schemas import COHERE_RERANK_EXAMPLE

    rerank = json.dumps(COHERE_RERANK_EXAMPLE)
    return [
        f"curl -s {base}/health",
        f"curl -s {base}/ready",
        f"curl -s -X POST {base}/query -H 'Content-Type: application/json'{auth} -d '{query}'",
        f"curl -s -X POST {base}/v1/rerank -H 'Content-Type: application/json'{auth} -d '{rerank}'",
        f"curl -s {base}/metrics | grep rag_rerank_",
        f"open {base}/docs   # OpenAPI documentation",
    ]


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: PORT).")] = None,
    index: Annotated[str | None, typer.Option(help="Index name (default: INDEX_NAME; 'demo' is built in).")] = None,
    log_level: Annotated[str | None, typer.Option(help="Logging level (default: LOG_LEVEL).")] = None,
) -> None:
    """Serve /query, /v1/rerank, /health, /ready, /metrics and /docs."""
    import uvicorn

    from app import create_app
    from app.guards import uvicorn_config
    from shared_config.settings import AppSettings

    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    if index:
        overrides["index_name"] = index
    settings = AppSettings(**overrides)  # type: ignore[arg-type]
    setup_logging(log_level or settings.log_level)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    base = f"http://{settings.host}:{settings.port}"
    console.print(
        f"[bold]rag-rerank[/] starting on {base} (index {settings.index_name!r}; the demo index is built "
        "on first start). Try:"
    )
    key = settings.api_key.get_secret_value() if settings.api_key else None
    for line in curl_examples(base, key):
        console.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()
