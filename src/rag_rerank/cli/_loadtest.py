"""``rag-rerank loadtest``: concurrent clients against a running server, for a bounded time."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Annotated, Any

import typer

from rag_core.demo import DEMO_QUERIES as QUERIES
from rag_rerank.cli._console import console, err_console, setup_logging


async def _run(
    url: str,
    endpoint: str,
    clients: int,
    duration: float,
    top_n: int,
    documents: int,
    api_key: str | None,
    timeout: float,
    distinct: bool = True,
) -> dict[str, Any]:
    import httpx

    from rag_core.evaluation._speed import percentile

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    statuses: dict[str, int] = {}
    rng = random.Random(0)
    passages = [f"Passage {i}: " + " ".join(rng.choice(QUERIES).split()[::-1]) * 3 for i in range(documents)]
    deadline = time.perf_counter() + duration

    async def client(number: int, http: httpx.AsyncClient) -> None:
        n = 0
        while time.perf_counter() < deadline:
            query = QUERIES[(number + n) % len(QUERIES)]
            if distinct:  # a request id as an extra word: every request misses the cache
                query = f"{query} r{number}x{n}"
            n += 1
            if endpoint == "query":
                body: dict[str, Any] = {"query": query, "top_n": top_n}
                path = "/query"
            else:
                body = {"query": query, "documents": passages, "top_n": top_n}
                path = "/v1/rerank"
            started = time.perf_counter()
            try:
                response = await http.post(path, json=body)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
            elif endpoint == "query":
                status = response.json().get("rerank_status", "?")
                statuses[status] = statuses.get(status, 0) + 1

    # idle connections expire before the server's keep-alive timeout (a reuse/close race otherwise)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - started
    ok = len(latencies) - sum(v for k, v in errors.items() if k.isdigit())
    return {
        "endpoint": "/query" if endpoint == "query" else "/v1/rerank",
        "clients": clients,
        "seconds": elapsed,
        "requests": len(latencies) + sum(v for k, v in errors.items() if not k.isdigit()),
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "rerank_status": statuses,
        "throughput_rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
    }


def loadtest(
    url: Annotated[str, typer.Option(help="Base URL of a running server.")] = "http://127.0.0.1:8000",
    endpoint: Annotated[str, typer.Option(help="query (/query) or rerank (/v1/rerank).")] = "query",
    clients: Annotated[int, typer.Option(help="Concurrent clients.")] = 16,
    duration: Annotated[float, typer.Option(help="Seconds to run.")] = 30.0,
    top_n: Annotated[int, typer.Option()] = 5,
    documents: Annotated[int, typer.Option(help="Documents per /v1/rerank request.")] = 20,
    api_key: Annotated[str | None, typer.Option(help="Bearer token, when the server has API_KEY.")] = None,
    timeout: Annotated[float, typer.Option(help="Per-request timeout (s).")] = 30.0,
    distinct: Annotated[
        bool, typer.Option("--distinct/--repeat", help="Distinct queries (cache misses) or 8 repeated ones.")
    ] = True,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Throughput, p50/p95/p99 latency and errors of N concurrent clients."""
    setup_logging("WARNING")
    if endpoint not in ("query", "rerank"):
        err_console.print("[red]--endpoint must be query or rerank[/]")
        raise typer.Exit(2)
    report = asyncio.run(
        _run(url.rstrip("/"), endpoint, clients, duration, top_n, documents, api_key, timeout, distinct)
    )
    if output == "json":
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    console.print(
        f"{report['endpoint']}: {clients} clients, {report['seconds']:.1f} s, {report['requests']} requests, "
        f"{report['errors']} errors {report['error_kinds'] or ''}\n"
        f"throughput {report['throughput_rps']:.1f} req/s · p50 {report['p50_ms']:.1f} ms · "
        f"p95 {report['p95_ms']:.1f} ms · p99 {report['p99_ms']:.1f} ms · status {report['rerank_status']}"
    )
