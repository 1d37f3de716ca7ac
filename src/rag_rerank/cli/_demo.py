"""``rag-rerank demo`` and ``rag-rerank rerank``: rerank a built-in example or your own texts."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rag_core._documents import Document
from rag_core._errors import RagRerankError
from rag_rerank.cli._console import console, err_console, setup_logging

DEMO_QUERY = "How do neural networks learn?"
#: A small first-stage result list, in the order a keyword retriever might return it.
DEMO_CANDIDATES: list[tuple[str, str]] = [
    ("news-1", "The network outage on Tuesday was caused by a misconfigured router, engineers said."),
    ("bio-1", "Neurons communicate through synapses; the brain has about 86 billion of them."),
    (
        "ml-1",
        "A neural network learns by adjusting its weights with gradient descent: backpropagation "
        "computes how much each weight contributed to the error on the training examples.",
    ),
    ("cook-1", "To learn to bake bread, start with flour, water, salt and yeast, and be patient."),
    (
        "ml-2",
        "Training a deep learning model means minimising a loss function; each step nudges the "
        "parameters in the direction that reduces the prediction error.",
    ),
    ("hist-1", "The perceptron, an early artificial neuron, was introduced by Frank Rosenblatt in 1958."),
    ("net-1", "Social networks help people learn about job openings through weak ties."),
    ("ml-3", "Overfitting happens when a model memorises its training data instead of generalising."),
]


def demo_documents() -> list[Document]:
    n = len(DEMO_CANDIDATES)
    return [
        Document(page_content=text, metadata={"source": doc_id}, id=doc_id, score=round(1.0 - i / n, 3))
        for i, (doc_id, text) in enumerate(DEMO_CANDIDATES)
    ]


def _load_reranker() -> Any:
    from rag_core.rerankers import RerankerFactory
    from rag_rerank.settings import AppSettings

    settings = AppSettings()
    reranker = RerankerFactory.create_from_settings_sync(settings)
    if reranker is None:
        err_console.print("[yellow]RERANKER_ENABLED=false: nothing to rerank with[/]")
        raise typer.Exit(1)
    return reranker


def render_before_after(query: str, before: list[Document], after: list[Document], model_line: str) -> Table:
    table = Table(title=f"Query: {query}", caption=model_line, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("before (first stage)")
    table.add_column("after (reranked)")
    table.add_column("rerank score", justify="right")
    table.add_column("was #", justify="right")
    for i in range(max(len(before), len(after))):
        b = before[i] if i < len(before) else None
        a = after[i] if i < len(after) else None
        table.add_row(
            str(i + 1),
            f"[dim]{b.id}[/] {b.page_content[:60]}" if b else "",
            f"[dim]{a.id}[/] {a.page_content[:60]}" if a else "",
            f"{a.metadata['rerank_score']:.4f}" if a else "",
            str(a.metadata["original_rank"]) if a else "",
        )
    return table


def model_line(reranker: Any) -> str:
    info = reranker.describe()
    line = f"reranker: {info['type']} · model: {info['model']} · backend: {info['backend']}"
    if info.get("fallback_from"):
        line += f" · FALLBACK from {info['fallback_from']} (unavailable)"
    return line


def demo(
    top_n: Annotated[int, typer.Option(help="How many reranked documents to show.")] = 5,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "WARNING",
) -> None:
    """Rerank a small built-in example and print the before/after table."""
    setup_logging(log_level)
    reranker = _load_reranker()
    docs = demo_documents()
    after = asyncio.run(reranker.rerank(DEMO_QUERY, docs, top_n=top_n))
    console.print(render_before_after(DEMO_QUERY, docs, list(after), model_line(reranker)))
    console.print(
        f"{after.stats.elapsed_ms:.1f} ms for {len(docs)} documents ({after.stats.per_document_ms:.2f} ms/doc)"
    )


def rerank(
    query: Annotated[str, typer.Argument(help="The query.")],
    documents: Annotated[list[str] | None, typer.Argument(help="Documents (or use --file).")] = None,
    file: Annotated[Path | None, typer.Option(help="JSONL ({'text': ..}) or text file, one document a line.")] = None,
    top_n: Annotated[int, typer.Option(help="How many to return.")] = 5,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "WARNING",
) -> None:
    """Rerank documents given on the command line or in a file, with the configured reranker."""
    setup_logging(log_level)
    items: list[Any] = list(documents or [])
    if file is not None:
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                items.append(json.loads(line) if file.suffix == ".jsonl" else line)
    if not items:
        err_console.print("[red]no documents given[/]")
        raise typer.Exit(2)
    reranker = _load_reranker()
    try:
        result = reranker.rerank_sync(query, items, top_n=top_n)
    except RagRerankError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    if output == "json":
        json.dump(
            {"model": reranker.model_name, "results": [d.to_dict() for d in result]},
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        sys.stdout.write("\n")
        return
    before = [
        Document(page_content=d.page_content, id=str(i + 1))
        for i, d in enumerate(
            Document(page_content=x) if isinstance(x, str) else Document(page_content=str(x)) for x in items
        )
    ]
    console.print(render_before_after(query, before[:top_n], list(result), model_line(reranker)))
