"""Cross-encoder throughput on a CUDA GPU: the reference against our torch engine (fp32, fp16).

The pairs are real text that every Python install has (``pydoc_data`` topics, cut into
~120-word passages), 16 queries x 100 passages. Prints pairs/s, the ratio to the reference and
how far our scores are from the reference's (max abs logit difference, top-10 overlap per query).
Passages that tokenise past 512 tokens (the symbol tables of pydoc) are scored by windows, max-p,
where the reference truncates: their logits differ by design (``long_documents="chunk"``).

Usage: python benchmarks/gpu_bench.py --model MODEL_DIR [--batch-size 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

QUERIES = [
    "how do I catch an exception",
    "what does the with statement do",
    "how are default argument values evaluated",
    "difference between is and ==",
    "how to define a class method",
    "what is a generator expression",
    "how does slicing work on sequences",
    "what are the operator precedence rules",
    "how do closures capture variables",
    "what is the global statement",
    "how to format strings with f-strings",
    "how do imports find modules",
    "what is a coroutine",
    "how to raise an error from another",
    "what does assert do when optimised",
    "how are boolean operations short-circuited",
]


def passages(count: int) -> list[str]:
    from pydoc_data.topics import topics

    words = " ".join(topics.values()).split()
    words *= 1 + 120 * count // len(words)  # wrap around rather than run out
    return [" ".join(words[i : i + 120]) for i in range(0, 120 * count, 120)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=len(QUERIES))
    parser.add_argument("--passages", type=int, default=100)
    parser.add_argument("--device", default="cuda", help="cpu only for a dry run of this script")
    args = parser.parse_args()

    import torch
    from sentence_transformers import CrossEncoder

    from rag_core.engines import TorchEngine

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    texts = passages(args.passages)
    lists = [(q, texts) for q in QUERIES[: args.queries]]
    n_pairs = sum(len(t) for _, t in lists)

    def timed(score) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
        score(*lists[0])  # warm-up
        sync()
        best = float("inf")
        out: list[np.ndarray] = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            out = [np.asarray(score(q, t), dtype=np.float64) for q, t in lists]
            sync()
            best = min(best, time.perf_counter() - started)
        return n_pairs / best, np.stack(out)

    reference = CrossEncoder(
        args.model, device=args.device, activation_fn=torch.nn.Identity(), model_kwargs={"dtype": torch.float32}
    )
    rows: dict[str, dict[str, float]] = {}
    ref_rate, ref_logits = timed(
        lambda q, t: reference.predict([(q, x) for x in t], batch_size=args.batch_size, show_progress_bar=False)
    )
    rows["reference (sentence-transformers, fp32)"] = {"pairs_per_s": ref_rate}
    results = {}
    for precision in ("float32", "float16", "bfloat16"):
        engine = TorchEngine(args.model, device=args.device, precision=precision, batch_size=args.batch_size)  # type: ignore[arg-type]
        rate, logits = timed(lambda q, t, e=engine: e.score([(q, x) for x in t]).logits)
        results[precision] = logits
        top = [
            len(set(np.argsort(-a)[:10]) & set(np.argsort(-b)[:10])) / 10
            for a, b in zip(logits, ref_logits, strict=True)
        ]
        rows[f"ours torch {precision}"] = {
            "pairs_per_s": rate,
            "max_abs_logit_diff_vs_reference": float(np.abs(logits - ref_logits).max()),
            "top10_overlap_vs_reference": float(np.mean(top)),
        }
    for name, row in rows.items():
        row["ratio"] = row["pairs_per_s"] / ref_rate
        print(f"{name:42s} {row['pairs_per_s']:9.0f} pairs/s  x{row['ratio']:.2f}  {row}", flush=True)
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(json.dumps({"device": device, "pairs": n_pairs, "engines": rows}))


if __name__ == "__main__":
    main()
