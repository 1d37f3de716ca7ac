"""``rag-rerank eval-retrieval``: BM25, vector and hybrid retrieval (with and without query
expansion), optionally followed by reranking, on a pooled TREC corpus or a BEIR folder."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rag_rerank.cli._console import console, err_console, progress_bar, setup_logging


def judged_corpus(
    runs: Path | None, beir: Path | None, topics: Path | None, qrels: Path | None
) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(passages, queries, qrels) of a BEIR folder, or of the pooled JSON runs in a folder."""
    from rag_core.datasets import corpus_from_runs, load_beir, read_qrels, read_topics

    if beir is not None:
        return load_beir(beir)
    if runs is None:
        err_console.print("[red]give --runs DIR (pooled TREC runs) or --beir FOLDER[/]")
        raise typer.Exit(2)
    files = sorted(runs.glob("*.json"))
    if not files:
        err_console.print(f"[red]no *.json runs in {runs}[/]")
        raise typer.Exit(2)
    if qrels is None:
        err_console.print("[red]--runs needs --qrels[/]")
        raise typer.Exit(2)
    passages, queries = corpus_from_runs(files)
    if topics is not None:
        queries.update(read_topics(topics))
    return passages, queries, read_qrels(qrels)


def eval_retrieval(
    runs: Annotated[
        Path | None, typer.Option(help="Folder of JSON runs: the union of their passages is the corpus.")
    ] = None,
    qrels: Annotated[Path | None, typer.Option(help="TREC qrels (with --runs).")] = None,
    beir: Annotated[
        Path | None, typer.Option(help="A BEIR folder instead (corpus.jsonl, queries.jsonl, qrels/).")
    ] = None,
    topics: Annotated[Path | None, typer.Option(help="Topics TSV (default: the queries in the runs).")] = None,
    depth: Annotated[int, typer.Option(help="Retrieval depth (recall cut-off).")] = 100,
    queries: Annotated[int | None, typer.Option(help="Only the first N judged queries.")] = None,
    rel_level: Annotated[int, typer.Option(help="Grade from which a passage is relevant.")] = 2,
    modes: Annotated[
        str, typer.Option(help="Comma-separated retrievers: bm25, vector, hybrid.")
    ] = "bm25,vector,hybrid",
    expansion: Annotated[
        str, typer.Option(help="Comma-separated query expansions to compare: none, rm3, rocchio, prf.")
    ] = "none",
    rerank: Annotated[
        bool, typer.Option(help="Also run the product path: the top --rerank-depth reranked as /query does.")
    ] = False,
    rerank_depth: Annotated[
        int | None, typer.Option(help="Candidates reranked per query (default: VECTOR_TOP_K, as /query).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Reranker model (default: RERANKER_MODEL or its fallback).")] = None,
    embedding_model: Annotated[
        str | None, typer.Option(help="Embedder of the index (default: EMBEDDING_MODEL).")
    ] = None,
    milvus: Annotated[
        str | None,
        typer.Option(help="Also evaluate the corpus in Milvus at this URI (milvus:///path or http://host:port)."),
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Index the corpus once, run the judged queries with each retriever and expansion, print
    nDCG@10, MRR@10 and Recall@depth, and with --rerank the product path (what /query returns)."""
    from rag_core.embeddings import load_embedder
    from rag_core.evaluation import corpus_index, evaluate_retrieval
    from rag_rerank.service.wiring import embedding_model as resolve_embedding_model
    from rag_rerank.service.wiring import query_expander
    from rag_rerank.settings import AppSettings

    setup_logging(log_level)
    overrides: dict[str, Any] = {"embedding_model": embedding_model} if embedding_model else {}
    settings = AppSettings(**overrides)
    passages, query_text, judgments = judged_corpus(runs, beir, topics, qrels)
    qids = [q for q in sorted(query_text) if q in judgments][:queries]
    wanted_modes = [m.strip() for m in modes.split(",") if m.strip()]
    expanders = {e.strip(): query_expander(settings, e.strip()) for e in expansion.split(",") if e.strip()}
    embedder = load_embedder(resolve_embedding_model(settings))
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"indexing {len(passages)} passages", total=None)
        index = corpus_index(
            passages,
            embedder,
            settings.rag_rerank_home / "indexes",
            progress=lambda _s, done, total: bar.update(task, completed=done, total=total),
        )
    index_seconds = time.perf_counter() - started
    sources: dict[str, Any] = {"": index}
    if milvus:
        sources["milvus:"] = _milvus_copy(milvus, index, index.folder.name.replace("-", "_"))
    reranker = None
    if rerank:
        from rag_rerank.cli._options import build_reranker

        reranker = build_reranker(model=model)
    top_k = rerank_depth or settings.vector_top_k
    rows: dict[str, dict[str, Any]] = {}
    with progress_bar() as bar:
        task = bar.add_task("evaluating", total=None)
        for prefix, source in sources.items():
            found = evaluate_retrieval(
                source,
                {q: query_text[q] for q in qids},
                judgments,
                modes=wanted_modes,
                expanders=expanders,
                depth=depth,
                rrf_k=settings.rrf_k,
                reranker=reranker,
                rerank_top_k=top_k,
                rel_level=rel_level,
                progress=lambda label, done, total: bar.update(
                    task, completed=done, total=total, description=label
                ),
            )
            rows.update({prefix + label: row for label, row in found.items()})
    report: dict[str, Any] = {
        "rows": rows,
        "index_seconds": index_seconds,
        "passages": len(passages),
        "queries": len(qids),
        "depth": depth,
        "embedding_model": embedder.model_name,
    }
    if reranker is not None:
        report["reranker"] = reranker.describe()
        report["rerank_depth"] = top_k
    if output == "json":
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{len(qids)} queries over {len(passages)} passages ({embedder.model_name})")
    columns = ["retriever", "nDCG@10", "MRR@10", f"Recall@{depth}", "p50 ms"]
    if reranker is not None:
        columns += [f"top-{top_k} nDCG@10", "final nDCG@10", "wins/losses", "rerank ms"]
    for column in columns:
        table.add_column(column, justify="left" if column == "retriever" else "right")
    for label, m in rows.items():
        cells = [
            label,
            f"{m['ndcg@10']:.4f}",
            f"{m['mrr@10']:.4f}",
            f"{m[f'recall@{depth}']:.4f}",
            f"{m['query_ms_p50']:.1f}",
        ]
        if reranker is not None:
            cells += [
                f"{m[f'top{top_k}_ndcg@10']:.4f}",
                f"{m['reranked_ndcg@10']:.4f}",
                f"{m['wins']}/{m['losses']}",
                f"{m['rerank_ms_p50']:.0f}",
            ]
        table.add_row(*cells)
    console.print(table)
    console.print(f"index build (or load): {index_seconds:.1f} s")
    if reranker is not None:
        info = reranker.describe()
        console.print(
            f"reranker: {info['model']} ({info['engine']}); final = /query's order: the top {top_k} reranked"
            + (f", fused with the first stage ({info['fusion']['method']})" if info.get("fusion") else "")
        )


def _milvus_copy(uri: str, index: Any, digest: str) -> Any:
    """The embedded index's passages (and vectors, not embedded again) in a Milvus collection."""
    import numpy as np

    from rag_core.retrieval._milvus import MilvusIndex

    target = MilvusIndex.open(uri, index.embedder, collection=f"eval_{digest}")
    ids = sorted(index.documents)
    missing = sorted(set(ids) - target.contains(ids))
    if missing:
        docs = [index.documents[i] for i in missing]
        vectors = np.stack(index.vectors.get_vectors(missing))
        with progress_bar() as bar:
            task = bar.add_task(f"copying {len(missing)} passages to Milvus", total=len(missing))
            target.add_documents(
                docs, vectors=vectors, progress=lambda _s, done, total: bar.update(task, completed=done)
            )
        target.save()
    return target
