"""``rag-rerank eval``: rerank a first-stage run and report IR metrics before and after."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rag_rerank.cli._console import console, err_console, progress_bar, setup_logging
from rag_rerank.cli._options import build_reranker


def eval_command(
    run: Annotated[Path | None, typer.Option(help="First-stage run: JSON with passage text, or a TREC run.")] = None,
    qrels: Annotated[Path | None, typer.Option(help="TREC qrels (graded).")] = None,
    topics: Annotated[Path | None, typer.Option(help="Topics TSV, with a TREC run.")] = None,
    passages: Annotated[Path | None, typer.Option(help="Passages JSONL/TSV, with a TREC run.")] = None,
    beir: Annotated[Path | None, typer.Option(help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/).")] = None,
    split: Annotated[str, typer.Option(help="BEIR qrels split.")] = "test",
    reranker_type: Annotated[str | None, typer.Option("--type", help="Reranker type (default: settings).")] = None,
    model: Annotated[str | None, typer.Option(help="Model (default: RERANKER_MODEL).")] = None,
    backend: Annotated[str | None, typer.Option(help="auto, torch or onnx.")] = None,
    quantize: Annotated[str | None, typer.Option(help="none or int8.")] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    max_length: Annotated[int | None, typer.Option()] = None,
    depth: Annotated[int, typer.Option(help="Candidates per query to rerank.")] = 100,
    queries: Annotated[int | None, typer.Option(help="Only the first N judged queries.")] = None,
    k: Annotated[int, typer.Option(help="Cut-off of nDCG and MRR.")] = 10,
    rel_level: Annotated[int, typer.Option(help="Grade from which a passage is relevant (MRR, P@1, recall).")] = 2,
    fusion: Annotated[
        str | None, typer.Option(help="Fuse with the first stage: none, rrf or interpolate (default: RERANKER_FUSION).")
    ] = None,
    fusion_weight: Annotated[float | None, typer.Option(help="First stage's share in the fusion (0..1).")] = None,
    fusion_grid: Annotated[
        bool, typer.Option(help="Also report rrf and interpolate at several weights, from the same scores.")
    ] = False,
    ray: Annotated[bool, typer.Option("--ray", help="Score the pairs on Ray Data (an actor pool).")] = False,
    ray_address: Annotated[str | None, typer.Option(help="A running Ray cluster (default with --ray: local).")] = None,
    ray_actors: Annotated[int, typer.Option(help="Scoring actors (--ray).")] = 2,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Rerank a first-stage run; print nDCG, MRR, P@1 and recall before and after."""
    from rag_core import InvalidInputError
    from rag_core.evaluation import evaluate_reranking, load_first_stage
    from rag_rerank.settings import AppSettings

    setup_logging(log_level)
    try:
        lists, judgments = load_first_stage(
            run=run, qrels=qrels, topics=topics, passages=passages, beir=beir, split=split, depth=depth
        )
    except InvalidInputError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    lists = lists[:queries] if queries is not None else lists
    if not lists:
        err_console.print("[red]no judged queries in the run[/]")
        raise typer.Exit(2)
    if fusion is not None and fusion not in ("none", "rrf", "interpolate"):
        err_console.print(f"[red]--fusion must be none, rrf or interpolate, not {fusion!r}[/]")
        raise typer.Exit(2)
    reranker = build_reranker(
        reranker_type=reranker_type,
        model=model,
        backend=backend,
        quantize=quantize,
        batch_size=batch_size,
        max_length=max_length,
    )
    scorer = _ray_scorer(reranker, AppSettings(), ray_address, ray_actors) if ray or ray_address else None
    with progress_bar() as bar:
        task = bar.add_task("reranking", total=len(lists))
        report = evaluate_reranking(
            reranker,
            lists,
            judgments,
            depth=depth,
            k=k,
            rel_level=rel_level,
            fusion=fusion,  # type: ignore[arg-type]
            fusion_weight=fusion_weight,
            fusion_grid=fusion_grid,
            pair_scorer=scorer,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    before, after, versus = report["first_stage"], report["reranked"], report["per_query"]
    method, weight = report["fusion"]["method"], report["fusion"]["first_stage_weight"]
    if output == "json":
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{len(lists)} queries, {depth} candidates each (relevant: grade >= {rel_level})")
    table.add_column("metric")
    table.add_column("first stage", justify="right")
    table.add_column("reranked", justify="right")
    table.add_column("change", justify="right")
    for name in before:
        change = after[name] - before[name]
        rel = f" ({change / before[name]:+.0%})" if before[name] else ""
        table.add_row(name, f"{before[name]:.4f}", f"{after[name]:.4f}", f"{change:+.4f}{rel}")
    console.print(table)
    info = reranker.describe()
    console.print(
        f"reranker: {info['type']} · model: {info['model']} · backend: {info['backend']}"
        + (f" · FALLBACK from {info['fallback_from']}" if info.get("fallback_from") else "")
    )
    console.print(
        f"per query (ndcg@{k}): {versus['wins']} wins, {versus['losses']} losses, "
        f"{versus['ties']} ties · {report['pairs_per_s']:.1f} pairs/s"
        + (f" · fused with the first stage: {method}, weight {weight:g}" if method != "none" else "")
    )
    if "fusion_grid" in report:
        cells = [f"{name} {value:.4f}" for name, value in report["fusion_grid"].items() if name != "metric"]
        console.print(f"fusion grid (nDCG@{k}): " + " · ".join(cells))


def _ray_scorer(reranker: Any, settings: Any, address: str | None, actors: int) -> Any:
    """Bulk scoring of the reranker's model on Ray Data (cross-encoders only)."""
    from rag_core.engines._ray_data import score_pairs_ray

    if getattr(reranker, "engine", None) is None:
        err_console.print("[red]--ray scores cross-encoder models only[/]")
        raise typer.Exit(2)
    options = {
        "backend": settings.reranker_backend,
        "quantize": settings.reranker_quantize,
        "precision": settings.reranker_precision,
        "max_length": settings.reranker_max_length,
        "batch_size": settings.reranker_batch_size,
    }
    model = reranker.model_name

    def score(pairs: list[tuple[str, str]]) -> Any:
        return score_pairs_ray(model, pairs, actors=actors, engine_options=options, address=address)

    return score
