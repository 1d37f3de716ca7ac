"""``rag-rerank bench``: speed and ranking of our engines against sentence-transformers."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rag_rerank.cli._console import console, err_console, setup_logging

ENGINES = ("reference", "reference-default", "torch", "torch-bf16", "torch-fp16", "onnx", "onnx-int8", "auto")
DEFAULT_ENGINES = ("reference", "reference-default", "torch", "torch-bf16", "onnx", "onnx-int8", "auto")


def default_bench_model() -> str:
    """The project's trained cross-encoder when bundled, else one built from the MiniLM weights."""
    from rag_core.models import build_cross_encoder, builtin_models, minilm_l6_encoder_dir
    from rag_rerank.settings import AppSettings

    trained = builtin_models().get("rag-rerank-minilm-l6")
    if trained is not None:
        return str(trained.locate())
    folder = AppSettings().rag_rerank_home / "models" / "minilm-l6-cross-encoder"
    return str(build_cross_encoder(minilm_l6_encoder_dir(), folder))


def machine() -> str:
    from rag_core.engines._cpu import cpu_flags, cpu_model

    try:
        import psutil

        cores = f"{psutil.cpu_count(logical=False)} cores / {psutil.cpu_count()} threads"
    except ImportError:  # pragma: no cover
        cores = "?"
    features = [
        f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16") if f in cpu_flags()
    ]
    return f"{cpu_model()} ({', '.join(features) or 'no AVX'}), {cores}, Python {platform.python_version()}"


def bench(
    run: Annotated[Path, typer.Option(help="JSON run with passage text (e.g. DL19 BM25 top-100).")],
    qrels: Annotated[Path, typer.Option(help="TREC qrels for nDCG@10.")],
    model: Annotated[str | None, typer.Option(help="Cross-encoder checkpoint (default: see docs).")] = None,
    queries: Annotated[int | None, typer.Option(help="First N judged queries (default: all).")] = None,
    engines: Annotated[str, typer.Option(help=f"Comma-separated subset of {','.join(ENGINES)}.")] = ",".join(
        DEFAULT_ENGINES
    ),
    batch_size: Annotated[int, typer.Option()] = 32,
    threads: Annotated[int | None, typer.Option(help="Threads for every engine (default: physical cores).")] = None,
    clients: Annotated[int, typer.Option(help="Concurrent clients for the micro-batching check (0: skip).")] = 16,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Pairs/s, latency p50/p95 (20 and 100 candidates), peak memory and nDCG@10 per engine."""
    from rag_core.datasets import read_qrels, read_run_json
    from rag_core.engines import default_threads
    from rag_core.evaluation import evaluate_run
    from rag_core.evaluation._speed import measure_engine, measure_microbatching, top_k_agreement

    setup_logging(log_level)
    chosen = [e.strip() for e in engines.split(",") if e.strip()]
    unknown = [e for e in chosen if e not in ENGINES]
    if unknown:
        err_console.print(f"[red]unknown engine(s) {unknown}; choose from {ENGINES}[/]")
        raise typer.Exit(2)
    judgments = read_qrels(qrels)
    lists = [r for r in read_run_json(run) if r.qid in judgments][:queries]
    if not lists:
        err_console.print("[red]no judged queries in the run[/]")
        raise typer.Exit(2)
    judgments = {r.qid: judgments[r.qid] for r in lists}
    model_path = model or default_bench_model()
    if model_path.startswith("builtin:"):  # every engine, the reference included, gets the folder
        from rag_core.models import resolve_builtin

        model_path = str(resolve_builtin(model_path)[1])
    n_threads = threads or default_threads()
    results: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for name in chosen:  # export / quantise (and choose, for auto) once up front: no measured process pays
        if name.startswith("onnx") or name == "auto":
            from rag_core.engines import create_engine

            kwargs: dict[str, Any] = {"backend": "onnx", "quantize": "int8" if name == "onnx-int8" else "none"}
            create_engine(model_path, device="cpu", **({} if name == "auto" else kwargs)).close()
    for name in chosen:
        err_console.print(f"measuring {name} ...")
        measured = measure_engine(name, model_path, lists, batch_size=batch_size, threads=n_threads)  # type: ignore[arg-type]
        runs[name] = measured.pop("run")
        measured["ndcg@10"] = evaluate_run(judgments, runs[name])["ndcg@10"]
        results[name] = measured
    base = results.get("reference")
    if base is not None:
        for name, measured in results.items():
            measured["top10_agreement_vs_reference"] = top_k_agreement(runs[name], runs["reference"], 10)
            measured["speedup_vs_reference"] = measured["pairs_per_s"] / base["pairs_per_s"]
            measured["p50_20_vs_reference"] = base["p50_ms_20"] / measured["p50_ms_20"]
            measured["memory_vs_reference"] = measured["peak_mb"] / base["peak_mb"]
            measured["ndcg@10_delta_vs_reference"] = measured["ndcg@10"] - base["ndcg@10"]
    report: dict[str, Any] = {
        "engines": results,
        "model": model_path,
        "queries": len(lists),
        "batch_size": batch_size,
        "threads": n_threads,
        "machine": machine(),
    }
    if clients > 0:
        err_console.print(f"measuring micro-batching with {clients} clients ...")
        report["microbatch"] = measure_microbatching(  # the service's engine: what auto picks here
            model_path, lists, clients=clients, threads=n_threads, backend="auto", quantize="auto"
        )
    if output == "json":
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{len(lists)} queries · batch {batch_size} · {n_threads} threads · {report['machine']}")
    for column in (
        "engine",
        "runs as",
        "pairs/s",
        "× ref",
        "p50 ms (20)",
        "p95 ms (20)",
        "p50 ms (100)",
        "p95 ms (100)",
        "peak MB",
        "nDCG@10",
        "top-10 = ref",
    ):
        table.add_column(column, justify="right" if column != "engine" else "left")
    for name, m in results.items():
        runs_as = f"{m.get('runtime')} {m.get('precision')}" + (f" → {m['chosen']}" if m.get("chosen") else "")
        table.add_row(
            name,
            runs_as,
            f"{m['pairs_per_s']:.1f}",
            f"{m.get('speedup_vs_reference', float('nan')):.2f}",
            f"{m['p50_ms_20']:.1f}",
            f"{m['p95_ms_20']:.1f}",
            f"{m['p50_ms_100']:.1f}",
            f"{m['p95_ms_100']:.1f}",
            f"{m['peak_mb']:.0f}",
            f"{m['ndcg@10']:.4f}",
            f"{m['top10_agreement_vs_reference']:.3f}" if "top10_agreement_vs_reference" in m else "-",
        )
    console.print(table)
    console.print(f"model: {model_path}")
    if "microbatch" in report:
        mb = report["microbatch"]
        console.print(
            f"micro-batching: {mb['clients']} clients x {mb['candidates']} candidates: "
            f"{mb['concurrent_pairs_per_s']:.1f} pairs/s vs {mb['single_caller_pairs_per_s']:.1f} single "
            f"caller ({mb['ratio']:.0%}), {mb['requests_per_engine_call']:.1f} requests per engine call"
        )
