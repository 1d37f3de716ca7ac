"""nDCG@10 of every reranker tier on each judged set in ``../shared/data`` (in domain and out of
domain), with and without fusion with the first stage, written as the ``cards.json`` figures.

Sets: TREC DL19 (BM25 top-100; evaluation only, never trained on), TREC DL20 (BM25 top-100; the
tuning set), BEIR SciFact (BM25 top-30, as BEIR reports reranking). Each model is scored once per
set; the fusion variants reuse those scores (``rag-rerank eval --fusion-grid``).

Usage: python benchmarks/tier_quality.py [--data ../shared/data] [--models builtin:fast,builtin:balanced]
       [--sets dl19,scifact] [--output quality.json] [--write-cards]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = "builtin:fast,builtin:balanced,builtin:quality,builtin:all-MiniLM-L6-v2"


def set_args(data: Path, name: str) -> list[str]:
    if name in ("dl19", "dl20"):
        folder = data / ("trec-dl19-passage" if name == "dl19" else "trec-dl20-passage")
        qrels = next(folder.glob("qrels.*.txt"))
        return ["--run", str(folder / "runs" / "BM25.top100.json"), "--qrels", str(qrels), "--depth", "100"]
    if name == "scifact":
        folder = data / "beir-scifact"
        return [
            "--run", str(folder / "runs" / "BM25.top100.trec"), "--topics", str(folder / "queries.jsonl"),
            "--passages", str(folder / "corpus.jsonl"), "--qrels", str(folder / "qrels.test.txt"),
            "--depth", "30", "--rel-level", "1",
        ]  # fmt: skip
    raise SystemExit(f"unknown set {name!r}")


def evaluate(model: str, data: Path, name: str) -> dict[str, Any]:
    kind = ["--type", "bi_encoder"] if "all-MiniLM" in model else []
    command = [sys.executable, "-m", "rag_rerank.cli", "eval", *set_args(data, name), "--model", model, *kind]
    command += ["--fusion", "none", "--fusion-grid", "--format", "json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    text = done.stdout
    report: dict[str, Any] = json.loads(text[text.index("{") :])
    report["seconds"] = time.perf_counter() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--sets", default="dl19,scifact")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--write-cards", action="store_true", help="update rag_core/models/cards.json")
    args = parser.parse_args()

    from rag_core.models._builtin import canonical_name
    from rag_core.rerankers._fusion import recommended_fusion

    results: dict[str, dict[str, Any]] = {}
    for model in args.models.split(","):
        for name in args.sets.split(","):
            print(f"evaluating {model} on {name} ...", file=sys.stderr, flush=True)
            report = evaluate(model, args.data, name)
            entry = results.setdefault(canonical_name(model), {"model": model})
            entry[f"{name}_first_stage_ndcg10"] = report["first_stage"]["ndcg@10"]
            entry[f"{name}_ndcg10"] = report["reranked"]["ndcg@10"]
            entry[f"{name}_fusion_grid"] = {k: v for k, v in report["fusion_grid"].items() if k != "metric"}
            entry[f"{name}_wins_losses"] = [report["per_query"]["wins"], report["per_query"]["losses"]]
            entry[f"{name}_pairs_per_s"] = report["pairs_per_s"]
            print(json.dumps({model: {name: entry[f"{name}_ndcg10"]}}), file=sys.stderr, flush=True)
    text = json.dumps(results, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text)
    if args.write_cards:
        cards_path = ROOT / "src" / "rag_core" / "models" / "cards.json"
        cards = json.loads(cards_path.read_text()) if cards_path.is_file() else {}
        for key, entry in results.items():
            card = cards.setdefault(key, {})
            method, weight = recommended_fusion(entry["model"])  # the figure as shipped: with its fusion
            shipped = "none" if method == "none" else f"{method}@{weight if weight is not None else 0.3:g}"
            card["fusion"] = shipped
            for name in ("dl19", "scifact"):
                if f"{name}_ndcg10" in entry:
                    grid = entry[f"{name}_fusion_grid"]
                    card[f"{name}_ndcg10"] = round(grid.get(shipped, entry[f"{name}_ndcg10"]), 4)
                    card[f"{name}_ndcg10_alone"] = round(entry[f"{name}_ndcg10"], 4)
        cards_path.write_text(json.dumps(cards, indent=1) + "\n")


if __name__ == "__main__":
    main()
