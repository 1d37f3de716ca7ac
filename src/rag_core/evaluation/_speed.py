"""Speed benchmark of scoring engines against the reference (sentence-transformers CrossEncoder).

Each engine runs in its own spawned process, so that its peak memory (max RSS) is its own and
no engine warms caches for another.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import resource
import time
from typing import Any, Literal

import numpy as np

from rag_core._stats import percentile, top_k_agreement
from rag_core.datasets import RankedList
from rag_core.engines import Backend, Quantization

__all__ = ["EngineName", "measure_engine", "measure_microbatching", "percentile", "top_k_agreement"]

logger = logging.getLogger(__name__)

EngineName = Literal["reference", "reference-default", "torch", "torch-bf16", "torch-fp16", "onnx", "onnx-int8", "auto"]

#: How each bench row runs the model (``auto``: whatever the measured choice is on this machine).
ENGINE_SPECS: dict[str, dict[str, str]] = {
    "torch": {"backend": "torch", "precision": "float32", "quantize": "none"},
    "torch-bf16": {"backend": "torch", "precision": "bfloat16", "quantize": "none"},
    "torch-fp16": {"backend": "torch", "precision": "float16", "quantize": "none"},
    "onnx": {"backend": "onnx", "precision": "float32", "quantize": "none"},
    "onnx-int8": {"backend": "onnx", "precision": "float32", "quantize": "int8"},
    "auto": {"backend": "auto", "precision": "auto", "quantize": "auto"},
}


def _scorer(name: EngineName, model: str, batch_size: int, threads: int) -> tuple[Any, dict[str, Any]]:
    """A function ``(query, texts) -> scores`` for the named engine, and what it runs (dtype, ...)."""
    if name in ("reference", "reference-default"):
        import torch
        from sentence_transformers import CrossEncoder

        torch.set_num_threads(threads)
        # "reference": float32 whatever dtype the checkpoint is stored in, as users of hub checkpoints
        # (stored in fp32) get; "reference-default": sentence-transformers' own default (the stored dtype)
        kwargs = {"model_kwargs": {"dtype": torch.float32}} if name == "reference" else {}
        ce = CrossEncoder(model, device="cpu", **kwargs)
        dtype = str(next(ce.model.parameters()).dtype).replace("torch.", "")

        def reference(query: str, texts: list[str]) -> np.ndarray:
            return np.asarray(ce.predict([(query, t) for t in texts], batch_size=batch_size, show_progress_bar=False))

        return reference, {"runtime": "sentence-transformers", "dtype": dtype, "precision": dtype, "quantize": "none"}
    from rag_core.engines import create_engine

    spec = ENGINE_SPECS[name]
    engine = create_engine(
        model,
        backend=spec["backend"],
        quantize=spec["quantize"],
        precision=spec["precision"],
        batch_size=batch_size,
        threads=threads,
        device="cpu",
    )
    info = engine.describe()
    described = {
        "runtime": info["backend"],
        "dtype": info.get("dtype"),
        "precision": info.get("precision"),
        "quantize": info.get("quantize"),
    }
    if info.get("precision_note"):
        described["note"] = info["precision_note"]
    if engine.selection is not None and name == "auto":
        described["chosen"] = engine.selection["chosen"]

    def ours(query: str, texts: list[str]) -> np.ndarray:
        return engine.score([(query, t) for t in texts]).logits

    return ours, described


def peak_rss_mb() -> float:
    """This process's own peak RSS. Linux keeps ``ru_maxrss`` across ``execve``, so a spawned
    child would report its parent's size at the fork when that was larger; ``VmHWM`` belongs to
    the process's current memory map and starts afresh at exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(name: EngineName, model: str, lists: list[RankedList], batch_size: int, threads: int) -> dict[str, Any]:
    score, described = _scorer(name, model, batch_size, threads)
    score(lists[0].query, [c.text for c in lists[0].candidates[:20]])  # warm-up
    run: dict[str, dict[str, float]] = {}
    ms_100: list[float] = []
    pairs = 0
    started = time.perf_counter()
    for ranked in lists:
        texts = [c.text for c in ranked.candidates[:100]]
        t0 = time.perf_counter()
        scores = score(ranked.query, texts)
        ms_100.append((time.perf_counter() - t0) * 1000)
        pairs += len(texts)
        run[ranked.qid] = {c.docid: float(s) for c, s in zip(ranked.candidates[:100], scores, strict=True)}
    seconds = time.perf_counter() - started
    ms_20: list[float] = []
    for ranked in lists:
        texts = [c.text for c in ranked.candidates[:20]]
        t0 = time.perf_counter()
        score(ranked.query, texts)
        ms_20.append((time.perf_counter() - t0) * 1000)
    return {
        "pairs": pairs,
        "seconds": seconds,
        "pairs_per_s": pairs / seconds,
        "p50_ms_20": percentile(ms_20, 50),
        "p95_ms_20": percentile(ms_20, 95),
        "p50_ms_100": percentile(ms_100, 50),
        "p95_ms_100": percentile(ms_100, 95),
        "peak_mb": peak_rss_mb(),
        "run": run,
        **described,
    }


def _child(queue: Any, name: EngineName, model: str, lists: list[RankedList], batch_size: int, threads: int) -> None:
    try:
        queue.put(("ok", _measure(name, model, lists, batch_size, threads)))
    except BaseException as exc:
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def measure_engine(
    name: EngineName, model: str, lists: list[RankedList], *, batch_size: int = 32, threads: int = 1
) -> dict[str, Any]:
    """Measure one engine in a fresh process: pairs/s over 100-candidate calls, latency
    percentiles for 20 and 100 candidates, peak RSS, and the scores (``run``) for nDCG."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(queue, name, model, lists, batch_size, threads))
    process.start()
    status, payload = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(f"{name} failed: {payload}")
    result: dict[str, Any] = payload
    return result


def measure_microbatching(
    model: str,
    lists: list[RankedList],
    *,
    clients: int = 16,
    candidates: int = 20,
    backend: Backend = "onnx",
    quantize: Quantization = "int8",
    threads: int = 1,
    rounds: int = 3,
    wait_ms: float = 2.0,
) -> dict[str, float]:
    """Throughput of ``clients`` concurrent rerank calls (``candidates`` each) through the
    micro-batcher, against one caller making the same calls one after another."""
    from rag_core.rerankers import CrossEncoderReranker

    reranker = CrossEncoderReranker(
        model,
        backend=backend,
        quantize=quantize,
        threads=threads,
        microbatch_wait_ms=wait_ms,
        device="cpu",
        score_cache_size=0,  # the rounds repeat the same pairs: measure scoring, not the cache
    )
    work = [(r.query, [c.text for c in r.candidates[:candidates]]) for r in lists]
    reranker.rerank_sync(work[0][0], work[0][1])
    t0 = time.perf_counter()
    pairs = 0
    for query, texts in work:
        reranker.engine.score([(query, t) for t in texts])
        pairs += len(texts)
    single = pairs / (time.perf_counter() - t0)

    async def client(items: list[tuple[str, list[str]]]) -> int:
        done = 0
        for query, texts in items:
            await reranker.rerank(query, texts, top_n=len(texts))
            done += len(texts)
        return done

    async def load() -> float:
        jobs = [work[(i + j) % len(work)] for j in range(rounds) for i in range(len(work))]
        shares = [jobs[i::clients] for i in range(clients)]
        t = time.perf_counter()
        total = sum(await asyncio.gather(*(client(s) for s in shares)))
        return total / (time.perf_counter() - t)

    concurrent = asyncio.run(load())
    stats = reranker.describe()["microbatch"]
    reranker.close()
    return {
        "clients": clients,
        "candidates": candidates,
        "single_caller_pairs_per_s": single,
        "concurrent_pairs_per_s": concurrent,
        "ratio": concurrent / single,
        "requests_per_engine_call": stats["requests"] / max(1, stats["engine_calls"]),
    }
