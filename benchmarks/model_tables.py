"""The spec's "模型选择" (model choice) and "性能对比" (speed) tables, measured in one run on the same pairs.

Rows: our tiers (fast, balanced, quality), the bi-encoder, and the hub models of the spec's table.
Hub models cannot be downloaded here, so their speed is measured on the same architecture with
random weights (speed does not depend on the weights) and their quality is the published figure
(sbert.net, TREC DL19 nDCG@10), marked as published.

For each row, each engine runs in its own process (``measure_engine``): pairs/s over the
100-candidate calls, p50/p95 latency for 20 and 100 candidates, peak RSS, in fp32 (ONNX Runtime)
and int8 (dynamic int8, ONNX Runtime). Quality of our tiers comes from ``--quality`` (a JSON
written by ``benchmarks/tier_quality.py``) or from ``rag_core/models/cards.json``.

Usage: python benchmarks/model_tables.py --run DL19/runs/BM25.top100.json --qrels DL19/qrels --queries 8
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Published TREC DL19 nDCG@10 (BM25 top-100 reranked) of the hub cross-encoders (sbert.net).
PUBLISHED = {
    "cross-encoder/ms-marco-TinyBERT-L-2-v2": 0.6984,
    "cross-encoder/ms-marco-MiniLM-L-6-v2": 0.7430,
    "cross-encoder/ms-marco-MiniLM-L-12-v2": 0.7431,
    "cross-encoder/ms-marco-electra-base": 0.7199,
}
#: (model type, hidden, layers, heads, intermediate) of the hub architectures.
ARCHITECTURES = {
    "cross-encoder/ms-marco-TinyBERT-L-2-v2": ("bert", 128, 2, 2, 512),
    "cross-encoder/ms-marco-MiniLM-L-6-v2": ("bert", 384, 6, 12, 1536),
    "cross-encoder/ms-marco-MiniLM-L-12-v2": ("bert", 384, 12, 12, 1536),
    "cross-encoder/ms-marco-electra-base": ("electra", 768, 12, 12, 3072),
}


def random_checkpoint(name: str, root: Path) -> Path:
    """A checkpoint of ``name``'s architecture with random weights and the MiniLM vocabulary."""
    import torch
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForSequenceClassification,
        ElectraConfig,
        ElectraForSequenceClassification,
    )

    from rag_core.models import minilm_l6_encoder_dir

    folder = root / name.replace("/", "__")
    if (folder / "config.json").is_file():
        return folder
    kind, hidden, layers, heads, intermediate = ARCHITECTURES[name]
    torch.manual_seed(0)
    common = {
        "vocab_size": 30522,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "num_labels": 1,
    }
    model: Any
    if kind == "electra":
        model = ElectraForSequenceClassification(ElectraConfig(embedding_size=hidden, **common))
    else:
        model = BertForSequenceClassification(BertConfig(**common))
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(minilm_l6_encoder_dir())).save_pretrained(str(folder))
    return folder


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--qrels", required=True, type=Path)
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quality", type=Path, help="JSON from benchmarks/tier_quality.py")
    parser.add_argument("--skip-hub", action="store_true", help="only our tiers")
    parser.add_argument("--output", type=Path, help="write the JSON report here too")
    args = parser.parse_args()

    from rag_core.datasets import read_qrels, read_run_json
    from rag_core.engines import create_engine, default_threads
    from rag_core.evaluation._speed import measure_engine
    from rag_core.models._builtin import canonical_name, model_card, resolve_builtin
    from rag_rerank.cli._bench import machine

    threads = args.threads or default_threads()
    judgments = read_qrels(args.qrels)
    lists = [r for r in read_run_json(args.run) if r.qid in judgments][: args.queries]
    quality = json.loads(args.quality.read_text()) if args.quality else {}
    rows: dict[str, dict[str, Any]] = {}
    tiers = {"fast": "builtin:fast", "balanced": "builtin:balanced", "quality": "builtin:quality"}
    root = Path(tempfile.mkdtemp(prefix="rag-rerank-tables-"))
    models: dict[str, tuple[str, str]] = {}
    for tier, name in tiers.items():
        try:
            _, folder = resolve_builtin(name)
        except Exception as exc:  # the quality tier without its extra
            print(f"skipping {name}: {exc}", file=sys.stderr)
            continue
        models[f"ours: {tier} ({canonical_name(name)})"] = (str(folder), name)
    if not args.skip_hub:
        for hub in ARCHITECTURES:
            models[f"hub: {hub} (random weights)"] = (str(random_checkpoint(hub, root)), hub)
    for label, (folder, name) in models.items():
        onnx_only = not (Path(folder) / "config.json").is_file()
        engines = ["onnx-int8"] if onnx_only else ["onnx", "onnx-int8"]
        for engine in engines:  # export and quantise outside the measured processes
            create_engine(folder, backend="onnx", quantize="int8" if engine == "onnx-int8" else "none").close()
        row: dict[str, Any] = {"model": name, "size_mb": round(size_mb(Path(folder)), 1)}
        for engine in engines:
            print(f"measuring {label} {engine} ...", file=sys.stderr, flush=True)
            measured = measure_engine(engine, folder, lists, threads=threads)  # type: ignore[arg-type]
            measured.pop("run")
            row["int8" if engine == "onnx-int8" else "fp32"] = {
                k: round(v, 1) if isinstance(v, float) else v for k, v in measured.items()
            }
        if name in PUBLISHED:
            row["dl19_ndcg10"] = PUBLISHED[name]
            row["quality_source"] = "published (sbert.net)"
        else:
            card = quality.get(canonical_name(name)) or model_card(name)
            row["dl19_ndcg10"] = card.get("dl19_ndcg10")
            row["scifact_ndcg10"] = card.get("scifact_ndcg10")
            row["quality_source"] = "measured"
        rows[label] = row
    report = {"machine": machine(), "threads": threads, "queries": len(lists), "rows": rows}
    if args.output:
        args.output.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    def cell(row: dict[str, Any], engine: str, key: str) -> str:
        value = row.get(engine, {}).get(key)
        return "-" if value is None else f"{value:.0f}" if key != "pairs_per_s" else f"{value:.1f}"

    lines = [
        f"{report['machine']}, {report['threads']} threads, {report['queries']} DL19 queries",
        "",
        "| model | DL19 nDCG@10 | SciFact nDCG@10 | MB | pairs/s fp32 | pairs/s int8 | p50/p95 ms, 20 (int8) "
        "| p50/p95 ms, 100 (int8) | peak MB (int8) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in report["rows"].items():
        dl19 = row.get("dl19_ndcg10")
        dl19_text = (
            "-" if dl19 is None else f"{dl19:.3f}" + (" (published)" if row["quality_source"] != "measured" else "")
        )
        scifact = row.get("scifact_ndcg10")
        lines.append(
            f"| {label} | {dl19_text} | {'-' if scifact is None else f'{scifact:.3f}'} | {row['size_mb']:.0f} "
            f"| {cell(row, 'fp32', 'pairs_per_s')} | {cell(row, 'int8', 'pairs_per_s')} "
            f"| {cell(row, 'int8', 'p50_ms_20')} / {cell(row, 'int8', 'p95_ms_20')} "
            f"| {cell(row, 'int8', 'p50_ms_100')} / {cell(row, 'int8', 'p95_ms_100')} "
            f"| {cell(row, 'int8', 'peak_mb')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
