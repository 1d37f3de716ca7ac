"""``rag-rerank eval-retrieval``: BM25, vector and hybrid retrieval on a pooled TREC corpus."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rag_core.cli._app import app, console, err_console, setup_logging
from rag_core.cli._train import _progress


@app.command("eval-retrieval")
def eval_retrieval(
    runs: Annotated[Path, typer.Option(help="Folder of JSON runs: the union of their passages is the corpus.")],
    qrels: Annotated[Path, typer.Option(help="TREC qrels.")],
    topics: Annotated[Path | None, typer.Option(help="Topics TSV (default: the queries in the runs).")] = None,
    depth: Annotated[int, typer.Option(help="Retrieval depth (recall cut-off).")] = 100,
    queries: Annotated[int | None, typer.Option(help="Only the first N judged queries.")] = None,
    rel_level: Annotated[int, typer.Option(help="Grade from which a passage is relevant.")] = 2,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Index the pooled corpus, run the judged queries, print nDCG@10, MRR@10, Recall@depth."""
    from rag_core import Document
    from rag_core.datasets import read_qrels, read_run_json, read_topics
    from rag_core.embeddings import load_embedder
    from rag_core.evaluation import MetricSet, evaluate_run
    from rag_core.evaluation._speed import percentile
    from rag_core.retrieval import DocumentIndex
    from shared_config.settings import AppSettings

    setup_logging(log_level)
    settings = AppSettings()
    files = sorted(runs.glob("*.json"))
    if not files:
        err_console.print(f"[red]no *.json runs in {runs}[/]")
        raise typer.Exit(2)
    judgments = read_qrels(qrels)
    corpus: dict[str, str] = {}
    query_text: dict[str, str] = {}
    for path in files:
        for ranked in read_run_json(path):
            query_text.setdefault(ranked.qid, ranked.query)
            for cand in ranked.candidates:
                corpus.setdefault(cand.docid, cand.text)
    if topics is not None:
        query_text.update(read_topics(topics))
    qids = [q for q in sorted(query_text) if q in judgments][:queries]
    digest = hashlib.sha1("".join(sorted(corpus)).encode(), usedforsecurity=False).hexdigest()[:12]
    embedder = load_embedder(settings.embedding_model)
    index = DocumentIndex.open(settings.rag_rerank_home / "indexes" / f"eval-{digest}", embedder)
    started = time.perf_counter()
    if len(index) != len(corpus):
        docs = [Document(text, id=docid) for docid, text in corpus.items() if docid not in index.documents]
        with _progress() as bar:
            task = bar.add_task(f"indexing {len(corpus)} passages", total=len(docs))
            index.add_documents(docs, progress=lambda _s, done, total: bar.update(task, completed=done))
        index.save()
    index.bm25.search("warm up", 1)  # build the BM25 matrix outside the query timings
    index_seconds = time.perf_counter() - started
    metrics = MetricSet(k=10, recall_k=depth, rel_level=rel_level)
    judged = {q: judgments[q] for q in qids}
    report: dict[str, Any] = {}
    for mode in ("bm25", "vector", "hybrid"):
        retriever = index.retriever(mode=mode, top_k=depth, depth=depth, rrf_k=settings.rrf_k)
        run: dict[str, dict[str, float]] = {}
        times: list[float] = []
        for qid in qids:
            t0 = time.perf_counter()
            docs = retriever.retrieve_sync(query_text[qid], depth)
            times.append((time.perf_counter() - t0) * 1000)
            run[qid] = {str(d.id): float(len(docs) - n) for n, d in enumerate(docs)}
        scores = evaluate_run(judged, run, metrics)
        report[mode] = {
            "ndcg@10": scores["ndcg@10"],
            "mrr@10": scores["mrr@10"],
            f"recall@{depth}": scores[f"recall@{depth}"],
            "query_ms_p50": percentile(times, 50),
        }
    report["index_seconds"] = index_seconds
    report["passages"] = len(corpus)
    report["queries"] = len(qids)
    if output == "json":
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{len(qids)} queries over {len(corpus)} pooled passages")
    for column in ("retriever", "nDCG@10", "MRR@10", f"Recall@{depth}", "p50 ms"):
        table.add_column(column, justify="left" if column == "retriever" else "right")
    for mode in ("bm25", "vector", "hybrid"):
        m = report[mode]
        table.add_row(
            mode, f"{m['ndcg@10']:.4f}", f"{m['mrr@10']:.4f}", f"{m[f'recall@{depth}']:.4f}", f"{m['query_ms_p50']:.1f}"
        )
    console.print(table)
    console.print(f"index build (or load): {index_seconds:.1f} s")
