"""Why a plain ONNX export can be slower than torch, and what each fix is worth.

Scores the same DL19 BM25 pairs (first N queries x 100 candidates) with:

1. torch fp32 (transformers, our batching)                                   - the baseline
2. ONNX, plain export (default SDPA attention), every pair padded to 512     - a naive export
3. ONNX, plain export, padded per length-sorted batch
4. ONNX, eager-attention export fused by onnxruntime's BERT optimiser        - our fp32 engine
5. (4) + dynamic int8                                                        - our int8 engine

and, with ``--int8`` (issue: "int8 fidelity"), what brings int8 closer to fp32 without giving back its
speed. Each variant's pairs/s, max |delta logit| and top-10 agreement against fp32 (and nDCG@10 with
``--qrels``):

6. dynamic int8, per-tensor weights (u8s8)
7. dynamic int8, per-channel weights, unsigned weights too (u8u8)
8. dynamic int8 of the linear layers only (MatMul; the fused attention stays fp32)
9. static int8 (QDQ), activations calibrated on ``--calibration-run`` (DL20), per-channel
10. torch dynamic int8 (``torch.ao.quantization.quantize_dynamic`` on the Linear layers)

Usage: python benchmarks/onnx_ablation.py --run RUN.json --model MODEL_DIR [--queries 5] [--threads 2]
       [--int8 --qrels QRELS --calibration-run DL20_RUN.json]
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
    parser.add_argument("--int8", action="store_true", help="also run the int8 fidelity variants (6-10)")
    parser.add_argument("--qrels", type=Path, help="qrels of --run, for nDCG@10 per variant")
    parser.add_argument("--calibration-run", type=Path, help="a run whose pairs calibrate static int8 (DL20)")
    parser.add_argument("--skip-padding", action="store_true", help="skip variants 2-3 (the padding study)")
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

    if not args.skip_padding:
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
    variants = {"4 ONNX fused (eager export + BERT optimiser)": fp32, "5 ONNX fused + dynamic int8": int8}
    if args.int8:
        variants.update(int8_variants(args, fused, pairs, timed))
    fidelity(variants, fp32, lists, pairs, args.qrels, results)
    print(json.dumps(results, indent=1))


def int8_variants(args, fused, pairs, timed):  # type: ignore[no-untyped-def]
    """Variants 6-10 (see the module docstring), each scored with the fused fp32 graph's batching."""
    import logging

    import onnx
    import torch
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    from rag_core.datasets import read_run_json
    from rag_core.engines import OnnxEngine, TorchEngine

    logging.getLogger().setLevel(logging.ERROR)
    source = fused.onnx_path
    folder = Path(tempfile.mkdtemp())
    out: dict[str, np.ndarray] = {}

    def engine_for(path: Path):  # type: ignore[no-untyped-def]
        engine = OnnxEngine(args.model, threads=args.threads, long_documents="truncate", onnx_path=path)
        return lambda p: engine.score(p).logits

    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    dynamic = {
        "6 dynamic int8, per-tensor (u8s8)": {"per_channel": False, "weight_type": QuantType.QInt8},
        "7 dynamic int8, per-channel, u8u8": {"per_channel": True, "weight_type": QuantType.QUInt8},
        "8 dynamic int8, linear layers only (attention fp32)": {
            "per_channel": True,
            "weight_type": QuantType.QInt8,
            "op_types_to_quantize": ["MatMul"],
        },
    }
    for name, options in dynamic.items():
        target = folder / f"{name.split()[0]}.onnx"
        quantize_dynamic(str(source), str(target), extra_options=extra, **options)
        out[name] = timed(name, engine_for(target))
    if args.calibration_run is not None:
        calibration = [(r.query, c.text) for r in read_run_json(args.calibration_run)[:8] for c in r.candidates[:16]]

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                encoded = fused.tokenizer.encode(calibration)
                self.batches = [
                    {"input_ids": b.input_ids, "attention_mask": b.attention_mask, "token_type_ids": b.token_type_ids}
                    for b in fused.tokenizer.batches(encoded, 16, 10**9)
                ]

            def get_next(self):  # type: ignore[no-untyped-def]
                return self.batches.pop(0) if self.batches else None

        target = folder / "9.onnx"
        quantize_static(
            str(source),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        out["9 static int8 (QDQ, DL20-calibrated, linear layers)"] = timed(
            "9 static int8 (QDQ, DL20-calibrated, linear layers)", engine_for(target)
        )
    try:  # OpenVINO (not a dependency: measured only where it is installed)
        import openvino as ov

        from rag_core.engines._base import logits_to_scores
        from rag_core.engines._cpu import current_cpu

        core = ov.Core()
        model = core.read_model(str(source))
        hints = ["f32"] + (["bf16"] if "bfloat16" in current_cpu().native_precisions else [])
        for hint in hints:
            compiled = core.compile_model(
                model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": args.threads or 0}
            )

            def run(batch_pairs, compiled=compiled):  # type: ignore[no-untyped-def]
                encoded = fused.tokenizer.encode(batch_pairs)
                logits = np.empty(len(encoded.windows), dtype=np.float32)
                for b in fused.tokenizer.batches(encoded, 32, 8192):
                    feed = {"input_ids": b.input_ids, "attention_mask": b.attention_mask,
                            "token_type_ids": b.token_type_ids}  # fmt: skip
                    logits[b.rows] = logits_to_scores(np.asarray(next(iter(compiled(feed).values()))))
                return logits

            name = f"11 OpenVINO {ov.__version__.split('-')[0]} ({hint})"
            out[name] = timed(name, run)
    except ImportError:
        pass
    torch_engine = TorchEngine(args.model, threads=args.threads, long_documents="truncate")
    torch_engine.model = torch.ao.quantization.quantize_dynamic(
        torch_engine.model, {torch.nn.Linear}, dtype=torch.qint8
    )
    out["10 torch dynamic int8 (Linear)"] = timed(
        "10 torch dynamic int8 (Linear)", lambda p: torch_engine.score(p).logits
    )
    return out


def fidelity(variants, reference, lists, pairs, qrels_path, results) -> None:  # type: ignore[no-untyped-def]
    """Per variant: max |delta logit|, top-10 agreement with fp32, nDCG@10 (with qrels)."""
    from rag_core.datasets import read_qrels
    from rag_core.evaluation import evaluate_run

    judgments = read_qrels(qrels_path) if qrels_path else None
    sizes = [min(100, len(r.candidates)) for r in lists]
    bounds = np.cumsum([0, *sizes])
    for name, logits in variants.items():
        agreement = []
        run: dict[str, dict[str, float]] = {}
        for r, a, b in zip(lists, bounds[:-1], bounds[1:], strict=True):
            ref_top = set(np.argsort(-reference[a:b], kind="stable")[:10].tolist())
            top = set(np.argsort(-logits[a:b], kind="stable")[:10].tolist())
            agreement.append(len(ref_top & top) / 10)
            run[r.qid] = {c.docid: float(s) for c, s in zip(r.candidates[:100], logits[a:b], strict=True)}
        row = results.setdefault(name, {})
        row["max_abs_logit_delta"] = float(np.abs(logits - reference).max())
        row["top10_agreement"] = float(np.mean(agreement))
        if judgments is not None:
            judged = {q: judgments[q] for q in run if q in judgments}
            row["ndcg@10"] = evaluate_run(judged, {q: run[q] for q in judged})["ndcg@10"]
        print(
            f"{name:55s} max|dlogit| {row['max_abs_logit_delta']:.3f} top-10 agreement {row['top10_agreement']:.3f}"
            + (f" nDCG@10 {row['ndcg@10']:.4f}" if "ndcg@10" in row else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
