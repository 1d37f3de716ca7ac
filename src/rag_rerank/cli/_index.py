"""``rag-rerank index`` and ``rag-rerank search``: build an index on disk and query it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rag_rerank.cli._console import console, err_console, progress_bar, setup_logging


def open_index(name: str | None = None, *, demo: bool = False) -> Any:
    """The named index (settings' INDEX_NAME by default); the demo corpus is added when asked."""
    from rag_core.demo import ensure_demo_index
    from rag_rerank.service.wiring import open_index as open_configured
    from rag_rerank.settings import AppSettings

    overrides: dict[str, Any] = {"index_name": name} if name else {}
    index = open_configured(AppSettings(**overrides))
    if demo:
        with progress_bar() as bar:
            task = bar.add_task("indexing demo corpus", total=None)
            ensure_demo_index(
                index, lambda stage, done, total: bar.update(task, completed=done, total=total, description=stage)
            )
    return index


def index(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders: PDF, HTML, DOCX, PPTX, XLSX, CSV, EPUB, Markdown, text, JSONL."),
    ],
    name: Annotated[str | None, typer.Option("--index", help="Index name (default: INDEX_NAME).")] = None,
    prune: Annotated[
        bool, typer.Option(help="Remove the passages of files gone from the given folders since the last run.")
    ] = True,
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Index files incrementally (chunks in the reranker's tokens; BM25 + vectors + documents, saved on
    disk). Unreadable files are listed with the reason; the others are indexed."""
    from rich.table import Table

    from rag_core import RagRerankError

    setup_logging(log_level)
    idx = open_index(name)
    try:
        with progress_bar() as bar:
            files = bar.add_task("reading files", total=None)
            chunks = bar.add_task("embedding chunks", total=None, visible=False)

            def progress(stage: str, done: int, total: int) -> None:
                if stage == "reading":
                    bar.update(files, completed=done, total=total)
                else:
                    bar.update(chunks, completed=done, total=total, visible=True)

            report = idx.ingest(paths, progress=progress, prune=prune)
    except RagRerankError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.items() if k != "errors" and v)
    console.print(f"{idx}: {len(idx)} passages · {counts or 'nothing changed'}")
    if report["errors"]:
        table = Table(title=f"{len(report['errors'])} file(s) skipped")
        table.add_column("file", overflow="fold")
        table.add_column("why")
        for error in report["errors"]:
            table.add_row(error["file"], error["reason"])
        err_console.print(table)


def search(
    query: Annotated[str, typer.Argument(help="The query.")],
    name: Annotated[str | None, typer.Option("--index", help="Index name (default: INDEX_NAME).")] = None,
    top_k: Annotated[int | None, typer.Option(help="Candidates (default: VECTOR_TOP_K).")] = None,
    mode: Annotated[str | None, typer.Option(help="hybrid, bm25 or vector (default: RETRIEVER_TYPE).")] = None,
    rerank: Annotated[bool, typer.Option(help="Rerank the candidates with the configured reranker.")] = False,
    expansion: Annotated[
        str | None, typer.Option(help="Query expansion: none, rm3, rocchio or prf (default: QUERY_EXPANSION).")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Print the fused top-k for a query (optionally reranked)."""
    from rag_rerank.settings import AppSettings

    setup_logging(log_level)
    settings = AppSettings(**({"query_expansion": expansion} if expansion else {}))  # type: ignore[arg-type]
    idx = open_index(name, demo=(name or settings.index_name) == "demo")
    if not len(idx):
        err_console.print(f"[yellow]index {idx.folder} is empty: run `rag-rerank index PATH`[/]")
        raise typer.Exit(1)
    from rag_rerank.service.wiring import build_reranker, retriever_for

    retriever = retriever_for(
        settings, idx, mode=mode or settings.retriever_type, top_k=top_k or settings.vector_top_k
    )
    docs, expanded = asyncio.run(retriever.retrieve_expanded(query))
    if rerank:
        reranker = build_reranker(settings)
        if reranker is not None:
            docs = list(reranker.rerank_sync(query, docs, top_n=settings.reranker_top_n))
    if output == "json":
        json.dump([d.to_dict() for d in docs], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{query}  ({retriever.mode}{', reranked' if rerank else ''})")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("ranks")
    table.add_column("id")
    table.add_column("text")
    for n, doc in enumerate(docs, start=1):
        ranks = " ".join(f"{k}:{v}" for k, v in doc.metadata.get("retrieval_ranks", {}).items())
        table.add_row(str(n), f"{doc.score:.4f}", ranks, str(doc.id), doc.page_content[:80].replace("\n", " "))
    console.print(table)
    if expanded.info:
        info = {k: v for k, v in expanded.info.items() if k != "parts"}
        console.print(f"query expansion: {json.dumps(info, ensure_ascii=False)}", highlight=False, markup=False)
