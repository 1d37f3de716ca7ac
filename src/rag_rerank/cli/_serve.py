"""``rag-rerank serve``: the HTTP service on uvicorn."""

from __future__ import annotations

import json
import logging
import os
from typing import Annotated, Any

import typer

from rag_rerank.cli._console import console, setup_logging


def curl_examples(base: str, api_key: str | None = None) -> list[str]:
    auth = f" -H 'Authorization: Bearer {api_key}'" if api_key else ""
    query = json.dumps({"query": "How do I catch an exception and clean up afterwards?", "top_k": 20, "top_n": 3})
    from rag_rerank.service.schemas import COHERE_RERANK_EXAMPLE

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
    ray: Annotated[
        bool, typer.Option("--ray", help="Serve on Ray Serve (the reranker as its own deployment).")
    ] = False,
    ray_address: Annotated[
        str | None, typer.Option(help="Address of a running Ray cluster (default with --ray: a local Ray).")
    ] = None,
    replicas: Annotated[int, typer.Option(help="Reranker replicas (--ray; the autoscaling minimum).")] = 1,
    max_replicas: Annotated[int | None, typer.Option(help="Autoscaling maximum (--ray; default: --replicas).")] = None,
    replica_cpus: Annotated[float, typer.Option(help="CPUs per reranker replica (--ray).")] = 1.0,
) -> None:
    """Serve /, /query, /v1/rerank, /rerank, /health, /ready, /metrics and /docs."""
    import uvicorn

    from rag_rerank.service import create_app
    from rag_rerank.service.guards import uvicorn_config
    from rag_rerank.settings import AppSettings

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
    if ray or ray_address:
        _serve_on_ray(settings, ray_address, replicas, max_replicas or replicas, replica_cpus, overrides)
        return
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()


def _serve_on_ray(
    settings: Any, address: str | None, replicas: int, max_replicas: int, cpus: float, overrides: dict[str, object]
) -> None:
    try:
        import ray
        from ray import serve

        from rag_rerank.service.ray_serve import build_app
    except ImportError as exc:
        console.print(f"[red]--ray needs Ray Serve: pip install 'rag-rerank[ray]' ({exc})[/]")
        raise typer.Exit(2) from exc
    if address is None:  # a private local Ray: no cluster token to share
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    serve.start(
        http_options={"host": settings.host, "port": settings.port},
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )
    args = {
        "reranker_replicas": replicas,
        "max_replicas": max_replicas,
        "reranker_num_cpus": cpus,
        **{k: str(v) for k, v in overrides.items() if k not in ("host", "port")},
    }
    console.print(f"Ray Serve: {replicas}-{max_replicas} reranker replica(s) x {cpus:g} CPU; Ctrl-C stops")
    try:
        serve.run(build_app(args), name="rag-rerank", route_prefix="/", blocking=True)
    finally:
        serve.shutdown()
        ray.shutdown()
