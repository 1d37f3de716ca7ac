"""Speed of each reranker family on this machine, in one run: random weights of the real sizes
(the hub cannot be reached here; speed does not depend on the weights' values).

    python benchmarks/family_speed.py [--candidates 20,100] [--queries 3] [--format json]

* Qwen3-Reranker-0.6B (``llm``): Qwen3ForCausalLM with the 0.6B config (28 layers, 1024 wide),
  the Qwen3 prompt; bf16 where the CPU has it natively, else fp32 (what ``auto`` does).
* bge-reranker-v2-m3 (``cross_encoder``): XLM-RoBERTa large (24 layers, 1024 wide), torch fp32.
* answerai-colbert-small (``colbert``): the quality extra's int8 backbone (real weights), passage
  vectors computed cold (the cache is cleared between runs).
* MiniLM-L6 (``cross_encoder``): ``builtin:balanced`` with the engine ``auto`` chooses here.

Passages are DL19 BM25 candidates when ``../shared/data`` is there, else the demo corpus's;
texts are tokenised with BERT's WordPiece for every model (realistic lengths; the real models'
tokenizers give similar counts for English). Prints p50 latency for each candidate count.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QWEN3_06B = {
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "tie_word_embeddings": True,
}
XLMR_LARGE = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "max_position_embeddings": 8194,
    "vocab_size": 250002,
    "type_vocab_size": 2,  # the WordPiece stand-in tokenizer types its pairs; speed is the same
}


def _tokenizer(folder: Path, extra_special: list[str]) -> None:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from rag_core.models import minilm_l6_encoder_dir

    tokenizer = Tokenizer.from_file(str(minilm_l6_encoder_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip
    if extra_special:
        fast.add_special_tokens({"additional_special_tokens": extra_special})
    fast.model_max_length = 8192
    fast.save_pretrained(str(folder))


def build_qwen3(folder: Path) -> Path:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    _tokenizer(folder, ["<|im_start|>", "<|im_end|>", "<think>", "</think>"])
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(vocab_size=30600, **QWEN3_06B)).to(torch.bfloat16)
    model.save_pretrained(str(folder))
    return folder


def build_xlmr_large(folder: Path) -> Path:
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    _tokenizer(folder, [])
    torch.manual_seed(0)
    XLMRobertaForSequenceClassification(XLMRobertaConfig(num_labels=1, **XLMR_LARGE)).save_pretrained(str(folder))
    return folder


def candidates(count: int, queries: int) -> list[tuple[str, list[str]]]:
    data = ROOT.parent / "shared" / "data" / "trec-dl19-passage" / "runs" / "BM25.top100.json"
    if data.is_file():
        from rag_core.datasets import read_run_json

        return [(r.query, [c.text for c in r.candidates[:count]]) for r in read_run_json(data)[:queries]]
    from rag_core.demo import DEMO_QUERIES, demo_documents

    texts = [d.page_content for d in demo_documents()]
    return [(q, texts[i * count : (i + 1) * count]) for i, q in enumerate(DEMO_QUERIES[:queries])]


def measure(reranker: object, counts: list[int], queries: int, cold: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    for count in counts:
        times = []
        for query, texts in candidates(count, queries):
            reranker.reset_caches()  # type: ignore[attr-defined]
            if cold and hasattr(reranker, "colbert"):
                reranker.colbert._cache.clear()  # type: ignore[attr-defined]
                reranker.colbert._cache_bytes = 0  # type: ignore[attr-defined]
            started = time.perf_counter()
            reranker.score(query, texts)  # type: ignore[attr-defined]
            times.append((time.perf_counter() - started) * 1000)
        out[f"p50_ms_{count}"] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", default="20,100")
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--families", default="minilm,colbert,bge-m3,qwen3")
    parser.add_argument("--format", default="table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from rag_core.engines._cpu import current_cpu
    from rag_core.rerankers import ColbertReranker, CrossEncoderReranker, LlmReranker

    counts = [int(c) for c in args.candidates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="family-speed-"))
    rows = []
    for family in args.families.split(","):
        started = time.perf_counter()
        if family == "minilm":
            name, reranker = "MiniLM-L6 (builtin:balanced)", CrossEncoderReranker("builtin:balanced")
        elif family == "colbert":
            name, reranker = "answerai-colbert-small (int8 backbone)", ColbertReranker()
        elif family == "bge-m3":
            folder = build_xlmr_large(work / "xlmr-large")
            name = "bge-reranker-v2-m3 shape (XLM-R large, random)"
            reranker = CrossEncoderReranker(str(folder), backend="torch", precision="float32", max_length=512)
        elif family == "qwen3":
            folder = build_qwen3(work / "qwen3-0.6b")
            name, reranker = "Qwen3-Reranker-0.6B shape (random)", LlmReranker(str(folder), max_length=1024)
        else:
            raise SystemExit(f"unknown family {family}")
        load_s = time.perf_counter() - started
        row = {"family": name, "engine": reranker.engine_name, "load_s": round(load_s, 1)}
        row.update({k: round(v, 0) for k, v in measure(reranker, counts, args.queries, cold=True).items()})
        rows.append(row)
        reranker.close()
        print(json.dumps(row), file=sys.stderr, flush=True)
    cpu = current_cpu()
    report = {"cpu": cpu.model, "cpu_kind": cpu.kind, "queries": args.queries, "rows": rows}
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    print(f"{cpu.model} ({cpu.kind}), p50 over {args.queries} queries")
    print("| family | engine | p50, " + " | p50, ".join(f"{c} candidates" for c in counts) + " |")
    print("|---|---|" + "---|" * len(counts))
    for row in rows:
        cells = " | ".join(f"{row[f'p50_ms_{c}']:,.0f} ms" for c in counts)
        print(f"| {row['family']} | {row['engine']} | {cells} |")


if __name__ == "__main__":
    main()
