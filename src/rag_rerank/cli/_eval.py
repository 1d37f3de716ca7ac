"""``rag-rerank eval``: rerank a first-stage run and report IR metrics before and after."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.table import Table

from rag_rerank.cli._console import console, err_console, progress_bar, setup_logging
from rag_rerank.cli._options import build_reranker


def load_first_stage(
    run: Path | None,
    qrels: Path | None,
    topics: Path | None,
    passages: Path | None,
    beir: Path | None,
    split: str,
    depth: int,
) -> tuple[list[Any], dict[str, dict[str, int]]]:
    """(ranked lists with text, qrels) from a JSON run, a TREC run + passages, or a BEIR folder."""
    from rag_core.datasets import load_beir, read_qrels, read_run_json, read_topics, read_trec_run, runs_with_text

    if beir is not None:
        from rag_core import Document
        from rag_core.datasets import Candidate, RankedList
        from rag_core.retrieval import BM25Retriever

        corpus, queries, judgments = load_beir(beir, split)
        bm25 = BM25Retriever.from_documents(Document(t, id=i) for i, t in corpus.items())
        lists = [
            RankedList(
                qid,
                queries[qid],
                [Candidate(str(d.id), s, d.page_content) for d, s in bm25.search(queries[qid], depth)],
            )
            for qid in judgments
            if qid in queries
        ]
        return lists, judgments
    if run is None or qrels is None:
        err_console.print("[red]give --run and --qrels, or --beir FOLDER[/]")
        raise typer.Exit(2)
    judgments = read_qrels(qrels)
    if run.suffix == ".json":
        lists = read_run_json(run)
    else:
        if topics is None or passages is None:
            err_console.print("[red]a TREC run needs --topics and --passages (JSONL or TSV)[/]")
            raise typer.Exit(2)
        lists = runs_with_text(read_trec_run(run), read_topics(topics), read_passages(passages))
    return [r for r in lists if r.qid in judgments], judgments


def read_passages(path: Path) -> dict[str, str]:
    from rag_core.datasets import read_passages as _read

    return _read(path)


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
    from rag_core.evaluation import MetricSet, compare_runs, evaluate_run, first_stage_run, rerank_lists

    setup_logging(log_level)
    lists, judgments = load_first_stage(run, qrels, topics, passages, beir, split, depth)
    if queries is not None:
        lists = lists[:queries]
    if not lists:
        err_console.print("[red]no judged queries in the run[/]")
        raise typer.Exit(2)
    judgments = {q: judgments[q] for q in {r.qid for r in lists}}
    reranker = build_reranker(
        reranker_type=reranker_type,
        model=model,
        backend=backend,
        quantize=quantize,
        batch_size=batch_size,
        max_length=max_length,
    )
    from rag_core.rerankers._fusion import FusionMethod
    from rag_rerank.settings import AppSettings

    settings = AppSettings()
    # default: what the reranker resolved (RERANKER_FUSION, or the model's own recommendation)
    method = fusion or getattr(reranker, "fusion", "none")
    if method not in ("none", "rrf", "interpolate"):
        err_console.print(f"[red]--fusion must be none, rrf or interpolate, not {method!r}[/]")
        raise typer.Exit(2)
    weight = getattr(reranker, "fusion_weight", 0.3) if fusion_weight is None else fusion_weight
    metrics = MetricSet(k=k, recall_k=depth, rel_level=rel_level)
    before_run = first_stage_run(lists, depth)
    with progress_bar() as bar:
        task = bar.add_task("reranking", total=len(lists))
        reranked = rerank_lists(
            reranker,
            lists,
            depth=depth,
            progress=lambda done, total: bar.update(task, completed=done),
            fusion=cast(FusionMethod, method),
            fusion_weight=weight,
            pair_scorer=_ray_scorer(reranker, settings, ray_address, ray_actors) if ray or ray_address else None,
        )
    before = evaluate_run(judgments, before_run, metrics)
    after = evaluate_run(judgments, reranked.run, metrics)
    versus = compare_runs(judgments, before_run, reranked.run, f"ndcg@{k}")
    report: dict[str, Any] = {
        "first_stage": before,
        "reranked": after,
        "delta": {m: after[m] - before[m] for m in before},
        "per_query": {"metric": f"ndcg@{k}", **versus},
        "queries": len(lists),
        "candidates_per_query": depth,
        "pairs": reranked.pairs,
        "pairs_per_s": reranked.pairs_per_s,
        "reranker": reranker.describe(),
        "fusion": {"method": method, "first_stage_weight": weight},
    }
    if fusion_grid:
        grid: dict[str, float] = {
            "none": evaluate_run(judgments, reranked.fused(lists, "none", 0.0), metrics)[f"ndcg@{k}"]
        }
        for grid_method in ("rrf", "interpolate"):
            for w in (0.1, 0.2, 0.3, 0.5, 0.7):
                fused_run = reranked.fused(lists, grid_method, w)
                grid[f"{grid_method}@{w}"] = evaluate_run(judgments, fused_run, metrics)[f"ndcg@{k}"]
        report["fusion_grid"] = {"metric": f"ndcg@{k}", **grid}
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
        f"per query ({versus and f'ndcg@{k}'}): {versus['wins']} wins, {versus['losses']} losses, "
        f"{versus['ties']} ties · {reranked.pairs_per_s:.1f} pairs/s"
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
