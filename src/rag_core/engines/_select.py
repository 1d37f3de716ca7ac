"""Choosing an engine by measurement (``RERANKER_BACKEND=auto``).

The first time a model is loaded on a machine, every eligible way to run it (torch float32,
bfloat16 and float16 where the CPU computes them natively, ONNX Runtime float32 and int8) scores
a small calibration set that ships with the package (``calibration.json``: 4 queries x 8
passages of 30-90 words). Each candidate is timed, and its fidelity to torch float32 on the
same pairs is measured:

* ``max_abs_logit_delta``: the largest change of a raw logit;
* ``agreement_at_5``: per query, the share of float32's top 5 that the candidate also puts in
  its top 5, averaged.

The fastest candidate within :data:`FIDELITY_BOUND` wins (float32 itself always qualifies).
Each candidate is warmed up on one query and timed on one pass over the set (which also gives
its scores); only a candidate within 15% of the best so far is timed again, so a clear ranking
costs no extra passes (about 8 s in all for a 6-layer model on 2 cores). The decision is cached
on disk, keyed by the model (folder and weights), the CPU (model name and the flags that matter,
through the :mod:`~rag_core.engines._cpu` seam), the library versions, the thread count and the
candidates, so later loads cost nothing. Processes
that start together (workers of one server) take a file lock: one measures, the others read its
decision, so one machine makes one decision.

A pinned backend, quantisation or precision always wins over auto: only candidates that match
every pin are considered, and a single one is used without measuring. A deployment that runs
on several machines pins the engine once (:func:`choose_engine` in the driver, or settings) so
that every replica scores alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag_core._stats import top_k_agreement
from rag_core.engines._base import ScoringEngine
from rag_core.engines._cpu import CpuProfile, current_cpu

__all__ = [
    "FIDELITY_BOUND",
    "REFERENCE",
    "EngineSpec",
    "Measurement",
    "calibration_pairs",
    "decision_key",
    "eligible_specs",
    "parse_spec",
    "select_engine",
]

logger = logging.getLogger(__name__)

#: A candidate qualifies when it keeps at least this share of float32's top 5 per query and
#: moves no logit by more than this (on the calibration set).
FIDELITY_BOUND = {"agreement_at_5": 0.9, "max_abs_logit_delta": 1.0}
RECIPE = "2"  # bump when the calibration set, the bound or the procedure changes
#: A second timed pass only for a candidate this close to the best rate so far.
TIE_MARGIN = 0.15

Pairs = list[tuple[str, str]]


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

    def pins(self) -> dict[str, str]:
        """The settings that pin exactly this engine (``RERANKER_BACKEND`` / ``_PRECISION`` / ``_QUANTIZE``)."""
        return {"backend": self.backend, "precision": self.precision, "quantize": self.quantize}


REFERENCE = EngineSpec("torch", "float32", "none")


def parse_spec(name: str) -> EngineSpec:
    """``"onnx-int8"`` → ``EngineSpec("onnx", "float32", "int8")`` (the names the tables print)."""
    backend, _, kind = name.partition("-")
    precision = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "int8": "float32"}.get(kind)
    if backend not in ("torch", "onnx") or precision is None:
        from rag_core._errors import ConfigurationError

        raise ConfigurationError(
            f"unknown engine {name!r}; use torch-fp32, torch-bf16, torch-fp16, onnx-fp32 or onnx-int8"
        )
    return EngineSpec(backend, precision, "int8" if kind == "int8" else "none")


@dataclass
class Measurement:
    spec: EngineSpec
    pairs_per_s: float
    max_abs_logit_delta: float | None
    agreement_at_5: float | None
    qualifies: bool
    error: str | None = None
    passes: int = 0

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
    cpu: CpuProfile | None = None,
    onnx_available: bool = True,
) -> list[EngineSpec]:
    """The candidates that match every pin (``auto`` pins nothing), best-known order.

    On a CPU, bfloat16 and float16 are candidates only where the CPU (``cpu``, default: the
    seam's :func:`~rag_core.engines._cpu.current_cpu`) computes them natively; a pinned one is
    always kept (it then runs emulated, and says so). On CUDA both halves are candidates."""
    if device == "cpu":
        native = (cpu or current_cpu()).native_precisions if native is None else native
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


def calibration_pairs() -> list[Pairs]:
    """Per query, (query, passage) pairs of the shipped calibration set."""
    path = Path(__file__).with_name("calibration.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [[(group["query"], passage) for passage in group["passages"]] for group in data["groups"]]


def _fidelity(reference: list[np.ndarray], candidate: list[np.ndarray]) -> tuple[float, float]:
    delta = max(float(np.max(np.abs(r - c))) for r, c in zip(reference, candidate, strict=True))

    def as_run(lists: list[np.ndarray]) -> dict[str, dict[str, float]]:
        return {str(q): {str(i): float(s) for i, s in enumerate(scores)} for q, scores in enumerate(lists)}

    return delta, top_k_agreement(as_run(candidate), as_run(reference), 5)


#: One timed pass over the groups: (seconds, the logits of each group).
Timer = Callable[[ScoringEngine, list[Pairs]], tuple[float, list[np.ndarray]]]


def _time_pass(engine: ScoringEngine, groups: list[Pairs]) -> tuple[float, list[np.ndarray]]:
    engine.score(groups[0])  # warm-up: first-call allocations are not the engine's speed
    started = time.perf_counter()
    logits = [np.asarray(engine.score(g).logits, dtype=np.float64) for g in groups]
    return time.perf_counter() - started, logits


def cache_file() -> Path:
    root = Path(os.environ.get("RAG_RERANK_CACHE", Path.home() / ".cache" / "rag-rerank"))
    return root / "engine-choices.json"


def decision_key(folder: Path, device: str, threads: int, specs: Sequence[EngineSpec]) -> str:
    """What a cached decision depends on: model files, CPU, library versions, threads, candidates."""
    import onnxruntime
    import torch
    import transformers

    cpu = current_cpu()
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".safetensors", ".bin", ".onnx"))
    stamp = [f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in files]
    material = {
        "model": str(folder.resolve()),
        "files": stamp,
        "device": device,
        "cpu": cpu.model,
        "flags": cpu.relevant_flags(),
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


def _lock(key: str) -> Any:
    """A lock per decision key, shared by the processes of this machine (workers of one server
    starting together measure once); a no-op where the cache folder is not writable."""
    import contextlib

    from filelock import FileLock, Timeout

    path = cache_file().parent / "locks" / f"{key}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return contextlib.nullcontext()
    lock = FileLock(str(path), timeout=600)

    @contextlib.contextmanager
    def held() -> Any:
        try:
            with lock:
                yield
        except Timeout:  # another process has measured for 10 minutes: measure here instead
            logger.warning("waited 600 s for another process's engine choice (%s); measuring here", path)
            yield

    return held()


class _Progress:
    """One progress line while measuring: tqdm on a terminal or in a notebook, else nothing (the
    INFO log says the same)."""

    def __init__(self, model_name: str, total: int) -> None:
        self.bar: Any = None
        interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
        if interactive and os.environ.get("RAG_RERANK_PROGRESS", "1") != "0":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=f"choosing an engine for {model_name}", unit="engine", leave=False)

    def step(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def select_engine(
    specs: Sequence[EngineSpec],
    build: Callable[[EngineSpec], ScoringEngine],
    *,
    key: str | None,
    model_name: str,
    groups: list[Pairs] | None = None,
    reselect: bool = False,
    timer: Timer = _time_pass,
) -> tuple[ScoringEngine, dict[str, Any]]:
    """Build the chosen engine (measuring the candidates unless a cached decision exists) and
    return it with a description of the choice (for ``describe()``, ``/health`` and logs).

    ``timer`` is the measurement (tests pass a deterministic one: no wall clock)."""
    if len(specs) == 1:
        engine = build(specs[0])
        return engine, {"chosen": specs[0].name, "reason": "the only engine allowed by the pins", "measured": []}

    def cached_choice() -> tuple[ScoringEngine, dict[str, Any]] | None:
        cached = _load_cache().get(key) if key and not reselect else None
        chosen = next((s for s in specs if cached and s.name == cached["chosen"]), None)
        if cached is None or chosen is None:
            return None
        logger.info("engine for %s: %s (cached decision: %s)", model_name, chosen.name, cached["reason"])
        return build(chosen), {**cached, "cached": True}

    import contextlib

    found = cached_choice()
    if found is not None:
        return found
    with _lock(key) if key else contextlib.nullcontext():
        if not reselect:
            found = cached_choice()  # another process decided while this one waited
            if found is not None:
                return found
        return _measure_and_choose(specs, build, key, model_name, groups, timer)


def _measure_and_choose(
    specs: Sequence[EngineSpec],
    build: Callable[[EngineSpec], ScoringEngine],
    key: str | None,
    model_name: str,
    groups: list[Pairs] | None,
    timer: Timer,
) -> tuple[ScoringEngine, dict[str, Any]]:
    groups = groups if groups is not None else calibration_pairs()
    pairs = sum(len(g) for g in groups)
    measurements: list[Measurement] = []
    reference_logits: list[np.ndarray] | None = None
    ordered = sorted(specs, key=lambda s: s != REFERENCE)
    if REFERENCE not in ordered:
        ordered.insert(0, REFERENCE)  # fidelity needs float32 even when it is not a candidate
    started = time.perf_counter()
    logger.info(
        "choosing an engine for %s on %s: measuring %s on %d calibration pairs (first load on this machine; "
        "the decision is cached)",
        model_name,
        current_cpu().kind,
        ", ".join(s.name for s in ordered),
        pairs,
    )
    progress = _Progress(model_name, len(ordered))
    best: tuple[float, ScoringEngine, EngineSpec] | None = None  # the fastest qualifying engine, kept open
    try:
        for spec in ordered:
            engine: ScoringEngine | None = None
            try:
                engine = build(spec)
                seconds, logits = timer(engine, groups)
                passes = 1
                rate = pairs / max(seconds, 1e-9)
                if best is not None and abs(rate / best[0] - 1.0) <= TIE_MARGIN:  # close: time once more
                    rate = max(rate, pairs / max(timer(engine, groups)[0], 1e-9))
                    passes = 2
            except Exception as exc:
                logger.warning("engine %s could not run: %s: %s", spec.name, type(exc).__name__, exc)
                measurements.append(Measurement(spec, 0.0, None, None, False, f"{type(exc).__name__}: {exc}"))
                if engine is not None:
                    engine.close()
                progress.step(spec.name)
                continue
            if reference_logits is None:
                reference_logits = logits
            delta, agreement = _fidelity(reference_logits, logits)
            ok = (
                agreement >= FIDELITY_BOUND["agreement_at_5"] and delta <= FIDELITY_BOUND["max_abs_logit_delta"]
            ) and spec in specs
            measurements.append(Measurement(spec, rate, delta, agreement, ok, passes=passes))
            if ok and (best is None or rate > best[0]):
                if best is not None:
                    best[1].close()
                best = (rate, engine, spec)
            else:
                engine.close()
            progress.step(spec.name)
    finally:
        progress.close()
    if best is None:  # nothing allowed ran within the bound: the first allowed one that ran, else the first
        fallback = next((m for m in measurements if m.spec in specs and m.error is None), None)
        spec = fallback.spec if fallback is not None else specs[0]
        best = (fallback.pairs_per_s if fallback else 0.0, build(spec), spec)
    rate, engine, spec = best
    chosen = next((m for m in measurements if m.spec == spec), None)
    base = next((m for m in measurements if m.spec == REFERENCE and m.pairs_per_s > 0), None)
    speedup = f", {rate / base.pairs_per_s:.2f}x torch-fp32" if base else ""
    reason = (
        f"fastest within the fidelity bound (agreement@5 >= {FIDELITY_BOUND['agreement_at_5']}, "
        f"max |delta logit| <= {FIDELITY_BOUND['max_abs_logit_delta']}): {rate:.1f} pairs/s{speedup}, "
        f"agreement@5 {(chosen.agreement_at_5 if chosen else 0) or 0:.2f}, "
        f"max |delta logit| {(chosen.max_abs_logit_delta if chosen else 0) or 0:.3f}"
    )
    seconds = time.perf_counter() - started
    entry = {
        "chosen": spec.name,
        "reason": reason,
        "measured": [m.row() for m in measurements],
        "seconds": round(seconds, 2),
        "cpu": current_cpu().describe(),
    }
    if key:
        _save_cache(key, {**entry, "decided_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    logger.info("engine for %s: %s (%s; measured in %.1f s)", model_name, spec.name, reason, seconds)
    return engine, {**entry, "cached": False}
