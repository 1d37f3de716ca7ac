"""Why a plain ONNX export can be slower than torch, and what each fix is worth.

Scores the same DL19 BM25 pairs (first N queries x 100 candidates) with:

1. torch fp32 (transformers, our batching)                                   - the baseline
2. ONNX, plain export (default SDPA attention), every pair padded to 512     - a naive export
3. ONNX, plain export, padded per length-sorted batch
4. ONNX, eager-attention export fused by onnxruntime's BERT optimiser        - our fp32 engine
5. (4) + dynamic int8                                                        - our int8 engine

Usage: python benchmarks/onnx_ablation.py --run RUN.json --model MODEL_DIR [--queries 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    from rag_core.datasets import read_run_json
    from rag_core.engines import OnnxEngine, PairTokenizer, TorchEngine
    from rag_core.engines._tokenization import load_tokenizer

    torch.set_num_threads(args.threads)
    from rag_core._hub import resolve_model_dir

    args.model = str(resolve_model_dir(args.model))  # builtin:NAME, hub id or folder
    lists = read_run_json(args.run)[: args.queries]
    pairs = [(r.query, c.text) for r in lists for c in r.candidates[:100]]
    results: dict[str, dict[str, float]] = {}

    def timed(name: str, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
        fn(pairs[:32])
        started = time.perf_counter()
        out = fn(pairs)
        seconds = time.perf_counter() - started
        results[name] = {"pairs_per_s": len(pairs) / seconds}
        print(f"{name:55s} {len(pairs) / seconds:7.1f} pairs/s", flush=True)
        return np.asarray(out)

    torch_engine = TorchEngine(args.model, threads=args.threads, long_documents="truncate")
    reference = timed("1 torch fp32", lambda p: torch_engine.score(p).logits)

    # a plain export, as a first attempt would make it (default SDPA attention, no fusion)
    from rag_core.engines._onnx_export import export_checkpoint

    plain = Path(tempfile.mkdtemp()) / "plain.onnx"
    config = json.loads((Path(args.model) / "config.json").read_text())
    export_checkpoint(Path(args.model), plain, config, attention="sdpa")
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(plain), options, providers=["CPUExecutionProvider"])
    tok, pad, _ = load_tokenizer(args.model)

    def run_plain(batch_pairs, fixed: int | None) -> np.ndarray:  # type: ignore[no-untyped-def]
        pt = PairTokenizer(tok, 512, pad_id=pad, long_documents="truncate")
        encoded = pt.encode(batch_pairs)
        out = np.empty(len(encoded.windows), dtype=np.float32)
        if fixed is None:
            batches = pt.batches(encoded, 32, 10**9)
        else:  # 32 pairs at a time in input order, each padded to `fixed` tokens

            def fixed_batches():  # type: ignore[no-untyped-def]
                for start in range(0, len(encoded.windows), 32):
                    rows = np.arange(start, min(start + 32, len(encoded.windows)))
                    yield pt._pad(encoded.windows, rows, fixed)

            batches = fixed_batches()
        for b in batches:
            feed = {"input_ids": b.input_ids, "attention_mask": b.attention_mask, "token_type_ids": b.token_type_ids}
            out[b.rows] = session.run(["logits"], feed)[0][:, 0]
        return out

    timed("2 ONNX plain export, padded to 512", lambda p: run_plain(p, 512))
    timed("3 ONNX plain export, length-sorted dynamic padding", lambda p: run_plain(p, None))
    fused = OnnxEngine(args.model, threads=args.threads, long_documents="truncate")
    fp32 = timed("4 ONNX fused (eager export + BERT optimiser)", lambda p: fused.score(p).logits)
    int8_engine = OnnxEngine(args.model, quantize="int8", threads=args.threads, long_documents="truncate")
    int8 = timed("5 ONNX fused + dynamic int8", lambda p: int8_engine.score(p).logits)
    print(
        f"max |fused fp32 - torch| = {np.abs(fp32 - reference).max():.2e}; "
        f"max |int8 - fp32| = {np.abs(int8 - fp32).max():.3f}"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
