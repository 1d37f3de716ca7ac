"""``rag-rerank eval-suite``: the default settings on every judged set this project can run, in
one command: the product path (what ``/query`` returns: hybrid retrieval, then the reranker) on
the DL19 pooled corpus and SciFact's full corpus, and the reranker on the DL19 (BM25 top-100) and
SciFact (BM25 top-30) runs. First stage, final, wins and losses per query."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rag_rerank.cli._console import console, err_console, progress_bar, setup_logging


def eval_suite(
    data: Annotated[Path, typer.Option(help="The judged data folder (../shared/data).")] = Path("../shared/data"),
    sets: Annotated[
        str, typer.Option(help="Comma-separated: dl19-pool, scifact-corpus, dl19-run, scifact-run.")
    ] = "dl19-pool,scifact-corpus,dl19-run,scifact-run",
    queries: Annotated[int | None, typer.Option(help="Only the first N judged queries of each set.")] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Run the default pipeline on the DL19 pool and SciFact's corpus (/query's path), and the
    default reranker on the DL19 and SciFact BM25 runs; print first stage vs final per set."""
    from rag_core.datasets import corpus_from_runs, load_beir, read_qrels
    from rag_core.embeddings import load_embedder
    from rag_core.evaluation import MetricSet, corpus_index, evaluate_pipeline, evaluate_reranking, load_first_stage
    from rag_rerank.service.wiring import build_reranker, embedding_model, retriever_for
    from rag_rerank.settings import AppSettings

    setup_logging(log_level)
    wanted = [s.strip() for s in sets.split(",") if s.strip()]
    dl19 = data / "trec-dl19-passage"
    scifact = data / "beir-scifact"
    if not dl19.is_dir() or not scifact.is_dir():
        err_console.print(f"[red]{data} does not hold trec-dl19-passage and beir-scifact[/]")
        raise typer.Exit(2)
    settings = AppSettings()
    reranker = build_reranker(settings.model_copy(update={"reranker_enabled": True}))
    assert reranker is not None
    embedder = load_embedder(embedding_model(settings))
    rows: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with progress_bar() as bar:
        for name in wanted:
            task = bar.add_task(name, total=None)

            def tick(done: int, total: int, task: Any = task) -> None:
                bar.update(task, completed=done, total=total)

            if name in ("dl19-pool", "scifact-corpus"):
                if name == "dl19-pool":
                    passages, topics = corpus_from_runs(sorted((dl19 / "runs").glob("*.json")))
                    qrels, rel = read_qrels(dl19 / "qrels.dl19-passage.txt"), 2
                else:
                    passages, topics, qrels = load_beir(scifact)
                    rel = 1
                judged = {q: topics[q] for q in sorted(topics) if q in qrels}
                judged = dict(list(judged.items())[:queries]) if queries else judged
                index = corpus_index(passages, embedder, settings.rag_rerank_home / "indexes")
                reuse = getattr(reranker, "reuse_vectors_from", None)
                if reuse is not None:
                    reuse(index.vectors)
                result = evaluate_pipeline(
                    retriever_for(settings, index),
                    reranker,
                    judged,
                    qrels,
                    top_k=settings.vector_top_k,
                    metrics=MetricSet(k=10, recall_k=settings.vector_top_k, rel_level=rel),
                    progress=tick,
                )
                summary = result.summary()
                rows[name] = {
                    "what": f"/query: hybrid top {settings.vector_top_k} ({embedder.model_name}), reranked",
                    "queries": summary["queries"],
                    "first_stage": summary["first_stage"]["ndcg@10"],
                    "final": summary["final"]["ndcg@10"],
                    "wins": summary["per_query"]["wins"],
                    "losses": summary["per_query"]["losses"],
                    "rerank_ms_p50": summary["rerank_ms_p50"],
                }
            else:
                if name == "dl19-run":
                    lists, qrels = load_first_stage(
                        run=dl19 / "runs" / "BM25.top100.json", qrels=dl19 / "qrels.dl19-passage.txt"
                    )
                    depth, rel = 100, 2
                else:
                    lists, qrels = load_first_stage(
                        run=scifact / "runs" / "BM25.top100.trec",
                        qrels=scifact / "qrels.test.txt",
                        topics=scifact / "queries.jsonl",
                        passages=scifact / "corpus.jsonl",
                    )
                    depth, rel = 30, 1
                lists = lists[:queries] if queries else lists
                report = evaluate_reranking(reranker, lists, qrels, depth=depth, rel_level=rel, progress=tick)
                rows[name] = {
                    "what": f"BM25 top {depth} reranked",
                    "queries": report["queries"],
                    "first_stage": report["first_stage"]["ndcg@10"],
                    "final": report["reranked"]["ndcg@10"],
                    "wins": report["per_query"]["wins"],
                    "losses": report["per_query"]["losses"],
                    "pairs_per_s": report["pairs_per_s"],
                }
    out = {
        "reranker": reranker.identity(),
        "embedder": embedder.model_name,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if output == "json":
        json.dump(out, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    table = Table(title=f"default settings: {reranker.model_name} · embedder {embedder.model_name} (nDCG@10)")
    for column in ("set", "what", "queries", "first stage", "final", "wins / losses"):
        table.add_column(column, justify="left" if column in ("set", "what") else "right")
    for name, row in rows.items():
        table.add_row(
            name,
            row["what"],
            str(row["queries"]),
            f"{row['first_stage']:.4f}",
            f"{row['final']:.4f}",
            f"{row['wins']} / {row['losses']}",
        )
    console.print(table)
