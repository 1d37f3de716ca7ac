"""``rag-rerank eval-retrieval``: BM25, vector and hybrid retrieval (with and without query
expansion), optionally followed by reranking, on a pooled TREC corpus or a BEIR folder."""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rag_rerank.cli._console import console, err_console, progress_bar, setup_logging


def _corpus(
    runs: Path | None, beir: Path | None, topics: Path | None
) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]] | None]:
    from rag_core.datasets import load_beir, read_run_json, read_topics

    if beir is not None:
        return load_beir(beir)
    if runs is None:
        err_console.print("[red]give --runs DIR (pooled TREC runs) or --beir FOLDER[/]")
        raise typer.Exit(2)
    files = sorted(runs.glob("*.json"))
    if not files:
        err_console.print(f"[red]no *.json runs in {runs}[/]")
        raise typer.Exit(2)
    corpus: dict[str, str] = {}
    query_text: dict[str, str] = {}
    for path in files:
        for ranked in read_run_json(path):
            query_text.setdefault(ranked.qid, ranked.query)
            for cand in ranked.candidates:
                corpus.setdefault(cand.docid, cand.text)
    if topics is not None:
        query_text.update(read_topics(topics))
    return corpus, query_text, None


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
    rerank: Annotated[bool, typer.Option(help="Also rerank each run's top --rerank-depth (original query).")] = False,
    rerank_depth: Annotated[int, typer.Option(help="Candidates reranked per query (with --rerank).")] = 30,
    model: Annotated[str | None, typer.Option(help="Reranker model (default: RERANKER_MODEL or its fallback).")] = None,
    milvus: Annotated[
        str | None,
        typer.Option(help="Also evaluate the corpus in Milvus at this URI (milvus:///path or http://host:port)."),
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Index the corpus once, run the judged queries with each retriever and expansion, print
    nDCG@10, MRR@10 and Recall@depth (and nDCG@10 after reranking) with the time each step adds."""
    from rag_core import Document
    from rag_core.datasets import read_qrels
    from rag_core.embeddings import load_embedder
    from rag_core.evaluation import MetricSet, evaluate_run
    from rag_core.evaluation._speed import percentile
    from rag_core.retrieval import DocumentIndex, build_expander
    from rag_rerank.settings import AppSettings

    setup_logging(log_level)
    settings = AppSettings()
    corpus, query_text, judgments = _corpus(runs, beir, topics)
    if judgments is None:
        if qrels is None:
            err_console.print("[red]--runs needs --qrels[/]")
            raise typer.Exit(2)
        judgments = read_qrels(qrels)
    qids = [q for q in sorted(query_text) if q in judgments][:queries]
    wanted_modes = [m.strip() for m in modes.split(",") if m.strip()]
    expansions = [e.strip() for e in expansion.split(",") if e.strip()]
    for name in expansions:
        build_expander(
            name,
            feedback_docs=settings.query_expansion_feedback_docs,
            terms=settings.query_expansion_terms,
            original_weight=settings.query_expansion_original_weight,
        )  # fails early on an unknown name
    digest = hashlib.sha1("".join(sorted(corpus)).encode(), usedforsecurity=False).hexdigest()[:12]
    embedder = load_embedder(settings.embedding_model)
    index = DocumentIndex.open(settings.rag_rerank_home / "indexes" / f"eval-{digest}", embedder)
    started = time.perf_counter()
    if len(index) != len(corpus):
        known = index.contains(list(corpus))
        docs = [Document(text, id=docid) for docid, text in corpus.items() if docid not in known]
        with progress_bar() as bar:
            task = bar.add_task(f"indexing {len(corpus)} passages", total=len(docs))
            index.add_documents(docs, progress=lambda _s, done, total: bar.update(task, completed=done))
        index.save()
    index.warm_up()  # build lazy structures (the BM25 matrix) outside the query timings
    index_seconds = time.perf_counter() - started
    indexes: dict[str, Any] = {"": index}
    if milvus:
        indexes["milvus:"] = _milvus_copy(milvus, index, digest)
    metrics = MetricSet(k=10, recall_k=depth, rel_level=rel_level)
    judged = {q: judgments[q] for q in qids}
    reranker = None
    if rerank:
        from rag_rerank.cli._options import build_reranker

        reranker = build_reranker(model=model)
    scored: dict[tuple[str, str], float] = {}  # (qid, docid) -> rerank score, shared by every row
    scoring = [0.0, 0]  # milliseconds and pairs actually scored: rerank time = pairs x ms per pair
    rows: dict[str, dict[str, Any]] = {}
    for name in expansions:
        expander = build_expander(
            name,
            feedback_docs=settings.query_expansion_feedback_docs,
            terms=settings.query_expansion_terms,
            original_weight=settings.query_expansion_original_weight,
        )
        for (prefix, source), mode in itertools.product(indexes.items(), wanted_modes):
            retriever = source.retriever(mode=mode, top_k=depth, depth=depth, rrf_k=settings.rrf_k, expander=expander)
            run: dict[str, dict[str, float]] = {}
            times: list[float] = []
            expand_ms: list[float] = []
            rerank_ms: list[float] = []
            reranked_run: dict[str, dict[str, float]] = {}
            for qid in qids:
                t0 = time.perf_counter()
                expanded = retriever.expand_sync(query_text[qid])
                t1 = time.perf_counter()
                docs = retriever.search_expanded(expanded, depth)
                times.append((time.perf_counter() - t0) * 1000)
                expand_ms.append((t1 - t0) * 1000)
                run[qid] = {str(d.id): float(len(docs) - n) for n, d in enumerate(docs)}
                if reranker is not None:
                    head = docs[:rerank_depth]
                    todo = [d for d in head if (qid, str(d.id)) not in scored]
                    t2 = time.perf_counter()
                    if todo:
                        values = reranker.score(query_text[qid], [d.page_content for d in todo])
                        scored.update({(qid, str(d.id)): float(v) for d, v in zip(todo, values, strict=True)})
                    if todo:
                        scoring[0] += (time.perf_counter() - t2) * 1000
                        scoring[1] += len(todo)
                    rerank_ms.append(len(head))  # pairs this query's rerank costs, priced below
                    entry = {str(d.id): 1000.0 + scored[(qid, str(d.id))] for d in head}
                    entry.update({str(d.id): float(len(docs) - n) for n, d in enumerate(docs[rerank_depth:])})
                    reranked_run[qid] = entry
            scores = evaluate_run(judged, run, metrics)
            row: dict[str, Any] = {
                "retriever": mode,
                "expansion": name,
                "ndcg@10": scores["ndcg@10"],
                "mrr@10": scores["mrr@10"],
                f"recall@{depth}": scores[f"recall@{depth}"],
                "query_ms_p50": percentile(times, 50),
                "expansion_ms_p50": percentile(expand_ms, 50),
            }
            if reranker is not None:
                row["reranked_ndcg@10"] = evaluate_run(judged, reranked_run, metrics)["ndcg@10"]
                # what reranking this row's candidates costs, whether or not an earlier row shared them
                row["rerank_ms_p50"] = percentile(rerank_ms, 50) * scoring[0] / max(1, scoring[1])
            rows[prefix + (f"{mode}+{name}" if name != "none" else mode)] = row
    report: dict[str, Any] = {
        "rows": rows,
        "index_seconds": index_seconds,
        "passages": len(corpus),
        "queries": len(qids),
        "depth": depth,
    }
    if reranker is not None:
        report["reranker"] = reranker.describe()
        report["rerank_depth"] = rerank_depth
    if output == "json":
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{len(qids)} queries over {len(corpus)} passages")
    columns = ["retriever", "nDCG@10", "MRR@10", f"Recall@{depth}", "p50 ms", "expansion ms"]
    if reranker is not None:
        columns += [f"reranked top-{rerank_depth} nDCG@10", "rerank ms"]
    for column in columns:
        table.add_column(column, justify="left" if column == "retriever" else "right")
    for label, m in rows.items():
        cells = [
            label,
            f"{m['ndcg@10']:.4f}",
            f"{m['mrr@10']:.4f}",
            f"{m[f'recall@{depth}']:.4f}",
            f"{m['query_ms_p50']:.1f}",
            f"{m['expansion_ms_p50']:.1f}",
        ]
        if reranker is not None:
            cells += [f"{m['reranked_ndcg@10']:.4f}", f"{m['rerank_ms_p50']:.0f}"]
        table.add_row(*cells)
    console.print(table)
    console.print(f"index build (or load): {index_seconds:.1f} s")
    if reranker is not None:
        console.print(f"reranker: {reranker.describe()['model']} (scores shared across rows; ms per query)")


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
