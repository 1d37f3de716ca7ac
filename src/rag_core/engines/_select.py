"""Choosing an engine by measurement (``RERANKER_BACKEND=auto``).

The first time a model is loaded on a machine, every eligible way to run it (torch float32,
bfloat16 and float16 where the CPU computes them natively, ONNX Runtime float32 and int8) scores
a small built-in calibration set: 8 queries of the demo corpus (the Python reference that ships
with CPython) with BM25's 12 best passages each. Each candidate is timed, and its fidelity to
torch float32 on the same pairs is measured:

* ``max_abs_logit_delta``: the largest change of a raw logit;
* ``agreement_at_5``: per query, the share of float32's top 5 that the candidate also puts in
  its top 5, averaged.

The fastest candidate within :data:`FIDELITY_BOUND` wins (float32 itself always qualifies).
The decision is cached on disk, keyed by the model (folder and weights), the CPU (model name and
flags), the library versions, the thread count and the pins, so later loads cost nothing. A
pinned backend, quantisation or precision always wins over auto: only candidates that match
every pin are considered, and a single one is used without measuring.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.engines._base import ScoringEngine

__all__ = ["FIDELITY_BOUND", "EngineSpec", "Measurement", "calibration_pairs", "eligible_specs", "select_engine"]

logger = logging.getLogger(__name__)

#: A candidate qualifies when it keeps at least this share of float32's top 5 per query and
#: moves no logit by more than this (on the calibration set).
FIDELITY_BOUND = {"agreement_at_5": 0.9, "max_abs_logit_delta": 1.0}
RECIPE = "1"  # bump when the calibration set or the bound changes


@dataclass(frozen=True)
class EngineSpec:
    """One way to run a model."""

    backend: str  # torch | onnx
    precision: str = "float32"  # float32 | bfloat16 | float16 (torch); float32 (onnx)
    quantize: str = "none"  # none | int8 (onnx)

    @property
    def name(self) -> str:
        short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}[self.precision]
        return f"{self.backend}-{'int8' if self.quantize == 'int8' else short}"


REFERENCE = EngineSpec("torch", "float32", "none")


@dataclass
class Measurement:
    spec: EngineSpec
    pairs_per_s: float
    max_abs_logit_delta: float | None
    agreement_at_5: float | None
    qualifies: bool
    error: str | None = None

    def row(self) -> dict[str, Any]:
        out = asdict(self)
        out["engine"] = self.spec.name
        out.update(asdict(self.spec))
        del out["spec"]
        return out


def eligible_specs(
    device: str,
    *,
    backend: str = "auto",
    quantize: str = "auto",
    precision: str = "auto",
    native: set[str] | None = None,
    onnx_available: bool = True,
) -> list[EngineSpec]:
    """The candidates that match every pin (``auto`` pins nothing), best-known order."""
    from rag_core.engines._cpu import native_precisions

    if device == "cpu":
        native = native_precisions() if native is None else native
        # a reduced precision the CPU lacks is only tried when pinned (the engine then falls back, loudly)
        halves = [p for p in ("bfloat16", "float16") if p in native or p == precision]
    else:  # CUDA: half precisions are native on every supported GPU
        halves = ["float16", "bfloat16"]
    specs = [REFERENCE] + [EngineSpec("torch", p) for p in halves]
    if onnx_available and device == "cpu":  # ONNX Runtime's CPU provider
        specs += [EngineSpec("onnx", "float32", "none"), EngineSpec("onnx", "float32", "int8")]
    if backend != "auto":
        specs = [s for s in specs if s.backend == backend]
    if quantize != "auto":
        specs = [s for s in specs if s.quantize == quantize]
    if precision != "auto":
        specs = [s for s in specs if s.precision == precision or (s.backend == "onnx" and precision == "float32")]
    return specs


def calibration_pairs(queries: int = 8, per_query: int = 12) -> list[list[tuple[str, str]]]:
    """Per query, (query, passage) pairs: BM25's best passages of the demo corpus."""
    from rag_core.demo import DEMO_QUERIES, demo_documents
    from rag_core.retrieval import BM25Retriever

    questions = DEMO_QUERIES[:queries]
    docs = demo_documents()
    bm25 = BM25Retriever.from_documents(docs)
    return [[(q, d.page_content) for d, _ in bm25.search(q, per_query)] for q in questions]


def _fidelity(reference: list[np.ndarray], candidate: list[np.ndarray]) -> tuple[float, float]:
    delta = max(float(np.max(np.abs(r - c))) for r, c in zip(reference, candidate, strict=True))
    from rag_core.evaluation._speed import top_k_agreement

    def as_run(lists: list[np.ndarray]) -> dict[str, dict[str, float]]:
        return {str(q): {str(i): float(s) for i, s in enumerate(scores)} for q, scores in enumerate(lists)}

    return delta, top_k_agreement(as_run(candidate), as_run(reference), 5)


def _time(
    engine: ScoringEngine, groups: list[list[tuple[str, str]]], rounds: int = 2
) -> tuple[float, list[np.ndarray]]:
    logits = [np.asarray(engine.score(g).logits, dtype=np.float64) for g in groups]  # warm-up, and the scores
    pairs = sum(len(g) for g in groups)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for group in groups:
            engine.score(group)
        best = min(best, time.perf_counter() - started)
    return pairs / best, logits


def cache_file() -> Path:
    root = Path(os.environ.get("RAG_RERANK_CACHE", Path.home() / ".cache" / "rag-rerank"))
    return root / "engine-choices.json"


def decision_key(folder: Path, device: str, threads: int, specs: Sequence[EngineSpec]) -> str:
    """What a cached decision depends on: model files, CPU, library versions, threads, candidates."""
    import onnxruntime
    import torch
    import transformers

    from rag_core.engines._cpu import cpu_flags, cpu_model

    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".safetensors", ".bin", ".onnx"))
    stamp = [f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in files]
    material = {
        "model": str(folder.resolve()),
        "files": stamp,
        "device": device,
        "cpu": cpu_model(),
        "flags": sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "bf16", "fphp", "asimd"))),
        "versions": [torch.__version__, onnxruntime.__version__, transformers.__version__],
        "threads": threads,
        "candidates": [s.name for s in specs],
        "recipe": RECIPE,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:24]


def _load_cache() -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(cache_file().read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return {}


def _save_cache(key: str, entry: dict[str, Any]) -> None:
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _load_cache()
        data[key] = entry
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only home: decide again next time, but say so
        logger.warning("could not cache the engine choice in %s: %s", path, exc)


def select_engine(
    specs: Sequence[EngineSpec],
    build: Callable[[EngineSpec], ScoringEngine],
    *,
    key: str | None,
    model_name: str,
    groups: list[list[tuple[str, str]]] | None = None,
    reselect: bool = False,
) -> tuple[ScoringEngine, dict[str, Any]]:
    """Build the chosen engine (measuring the candidates unless a cached decision exists) and
    return it with a description of the choice (for ``describe()``, ``/health`` and logs)."""
    if len(specs) == 1:
        engine = build(specs[0])
        return engine, {"chosen": specs[0].name, "reason": "the only engine allowed by the pins", "measured": []}
    cached = _load_cache().get(key) if key and not reselect else None
    if cached is not None:
        chosen = next((s for s in specs if s.name == cached["chosen"]), None)
        if chosen is not None:
            logger.info("engine for %s: %s (cached decision: %s)", model_name, chosen.name, cached["reason"])
            return build(chosen), {**cached, "cached": True}
    groups = groups if groups is not None else calibration_pairs()
    measurements: list[Measurement] = []
    reference_logits: list[np.ndarray] | None = None
    ordered = sorted(specs, key=lambda s: s != REFERENCE)
    if REFERENCE not in ordered:
        ordered.insert(0, REFERENCE)  # fidelity needs float32 even when it is not a candidate
    logger.info("choosing an engine for %s: measuring %s", model_name, ", ".join(s.name for s in ordered))
    for spec in ordered:
        try:
            engine = build(spec)
            rate, logits = _time(engine, groups)
            engine.close()
        except Exception as exc:
            logger.warning("engine %s could not run: %s: %s", spec.name, type(exc).__name__, exc)
            measurements.append(Measurement(spec, 0.0, None, None, False, f"{type(exc).__name__}: {exc}"))
            continue
        if reference_logits is None:
            reference_logits = logits
        delta, agreement = _fidelity(reference_logits, logits)
        ok = (
            agreement >= FIDELITY_BOUND["agreement_at_5"] and delta <= FIDELITY_BOUND["max_abs_logit_delta"]
        ) and spec in specs
        measurements.append(Measurement(spec, rate, delta, agreement, ok))
    qualified = [m for m in measurements if m.qualifies]
    if not qualified:  # nothing allowed ran within the bound: the first allowed one that ran
        qualified = [m for m in measurements if m.spec in specs and m.error is None] or measurements
    best = max(qualified, key=lambda m: m.pairs_per_s)
    base = next((m for m in measurements if m.spec == REFERENCE and m.pairs_per_s > 0), None)
    speedup = f", {best.pairs_per_s / base.pairs_per_s:.2f}x torch-fp32" if base else ""
    reason = (
        f"fastest within the fidelity bound (agreement@5 >= {FIDELITY_BOUND['agreement_at_5']}, "
        f"max |delta logit| <= {FIDELITY_BOUND['max_abs_logit_delta']}): {best.pairs_per_s:.1f} pairs/s{speedup}, "
        f"agreement@5 {best.agreement_at_5 or 0:.2f}, max |delta logit| {best.max_abs_logit_delta or 0:.3f}"
    )
    entry = {"chosen": best.spec.name, "reason": reason, "measured": [m.row() for m in measurements]}
    if key:
        _save_cache(key, {**entry, "decided_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    logger.info("engine for %s: %s (%s)", model_name, best.spec.name, reason)
    return build(best.spec), {**entry, "cached": False}
