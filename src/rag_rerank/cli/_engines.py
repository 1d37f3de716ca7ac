"""``rag-rerank engines``: measure every way to run the reranker on this machine, show the choice."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from rag_rerank.cli._console import console, err_console, setup_logging


def engines(
    model: Annotated[
        str | None, typer.Option(help="Cross-encoder to measure (default: RERANKER_MODEL, or its fallback).")
    ] = None,
    backend: Annotated[str, typer.Option(help="auto, torch or onnx (a pin restricts the candidates).")] = "auto",
    quantize: Annotated[str, typer.Option(help="auto, none or int8.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="Threads (default: physical cores).")] = None,
    fresh: Annotated[bool, typer.Option(help="Measure again even if a decision is cached.")] = True,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Time torch fp32/bf16/fp16 and ONNX fp32/int8 on a built-in calibration set, check each against
    fp32, and print the table and the engine RERANKER_BACKEND=auto picks (cached for later loads)."""
    from rag_core._errors import ModelLoadError
    from rag_core.engines import create_engine
    from rag_core.engines._cpu import current_cpu
    from rag_core.engines._select import FIDELITY_BOUND
    from rag_rerank.settings import AppSettings

    setup_logging(log_level)
    settings = AppSettings()
    name = model or settings.reranker_model
    options: dict[str, Any] = {
        "backend": backend,
        "quantize": quantize,
        "precision": precision,
        "threads": threads,
        "reselect": fresh,
    }
    try:
        engine = create_engine(name, **options)
    except ModelLoadError as exc:
        if model is not None or not settings.reranker_fallback_model:
            raise
        err_console.print(
            f"{name} is unavailable ({exc.reason}); measuring the fallback {settings.reranker_fallback_model}"
        )
        name = settings.reranker_fallback_model
        engine = create_engine(name, **options)
    selection: dict[str, Any] = engine.selection or {}
    engine.close()
    report = {
        "model": name,
        "cpu": current_cpu().model,
        "cpu_kind": current_cpu().kind,
        "native_precisions": sorted(current_cpu().native_precisions),
        "bound": FIDELITY_BOUND,
        **{k: v for k, v in selection.items() if k != "cpu"},
    }
    if output == "json":
        console.print_json(json.dumps(report))
        return
    from rich.table import Table

    table = Table(
        title=f"engines for {name} on {report['cpu']} ({report['cpu_kind']}; native: "
        f"{', '.join(report['native_precisions'])})"
    )
    for column in ("engine", "pairs/s", "x fp32", "max |Δlogit|", "agreement@5", "within bound", "note"):
        table.add_column(column)
    rows = selection.get("measured", [])
    base = next((r["pairs_per_s"] for r in rows if r["engine"] == "torch-fp32" and r["pairs_per_s"]), None)
    for row in rows:
        notes = []
        if row["engine"] == selection.get("chosen"):
            notes.append("← chosen")
        if row.get("error"):
            notes.append(row["error"])
        table.add_row(
            row["engine"],
            f"{row['pairs_per_s']:.1f}",
            f"{row['pairs_per_s'] / base:.2f}" if base else "-",
            "-" if row["max_abs_logit_delta"] is None else f"{row['max_abs_logit_delta']:.3f}",
            "-" if row["agreement_at_5"] is None else f"{row['agreement_at_5']:.2f}",
            "yes" if row["qualifies"] else "no",
            "; ".join(notes),
        )
    console.print(table)
    console.print(f"chosen: {selection.get('chosen')} ({selection.get('reason')})", highlight=False)
    if selection.get("seconds") is not None:
        console.print(f"measured in {selection['seconds']:.1f} s (cached: later loads on this machine skip it)")
