"""Choosing and building an engine from one set of options (:class:`EngineOptions`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rag_core.engines._base import ScoringEngine
from rag_core.engines._tokenization import LongDocumentMode
from rag_core.engines._torch import Precision, TorchEngine, pick_device

__all__ = ["Backend", "EngineOptions", "Quantization", "create_engine", "decide_engine"]

logger = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "onnx"]
Quantization = Literal["auto", "none", "int8"]


@dataclass(frozen=True)
class EngineOptions:
    """How to run a model: one value object from the settings (``RERANKER_BACKEND``, ...) or the
    caller down to the engine, instead of a dozen keyword arguments threaded by hand.

    ``backend``, ``quantize`` and ``precision`` left at ``auto`` are chosen by measurement (see
    :mod:`rag_core.engines._select`); pinning all three fixes the engine without measuring.
    """

    backend: Backend = "auto"
    quantize: Quantization = "auto"
    precision: Precision = "auto"
    device: str | None = None
    batch_size: int = 32
    max_length: int | None = None
    max_batch_tokens: int = 8192
    long_documents: LongDocumentMode = "chunk"
    max_windows: int | None = None
    threads: int | None = None
    revision: str | None = None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> EngineOptions:
        """The options among ``values`` (other keys are ignored; None keeps a default where the
        option cannot be None)."""
        defaults = cls()
        picked = {}
        for name in cls.field_names():
            if name in values:
                value = values[name]
                picked[name] = (
                    getattr(defaults, name) if value is None and getattr(defaults, name) is not None else value
                )
        return cls(**picked)

    def replace(self, **changes: Any) -> EngineOptions:
        return dataclasses.replace(self, **changes)

    @property
    def pinned(self) -> bool:
        """True when backend, quantisation and precision are all pinned (no measurement)."""
        return "auto" not in (self.backend, self.quantize, self.precision)


def create_engine(
    model_name: str, options: EngineOptions | None = None, *, reselect: bool = False, **overrides: Any
) -> ScoringEngine:
    """Build the engine for ``model_name``.

    ``options`` (keyword ``overrides`` replace single fields: ``create_engine(m, backend="onnx")``)
    say how; backend, quantisation and precision left at ``auto`` are chosen by measurement on
    this machine (the decision is cached); any of them pinned restricts the choice, and when the
    pins leave one way to run the model it is built without measuring (``reselect`` measures
    again even when a decision is cached). The returned engine's ``describe()`` says what was
    chosen and why.
    """
    from rag_core.engines._loading import check_cross_encoder, default_threads
    from rag_core.engines._select import EngineSpec, decision_key, eligible_specs, select_engine

    options = (options or EngineOptions()).replace(**overrides) if overrides else options or EngineOptions()
    check_cross_encoder(model_name, options.revision)  # a model without a relevance head fails here, once
    resolved = pick_device(options.device)
    common: dict[str, Any] = {
        "batch_size": options.batch_size,
        "max_length": options.max_length,
        "max_batch_tokens": options.max_batch_tokens,
        "long_documents": options.long_documents,
        "max_windows": options.max_windows,
        "threads": options.threads,
        "revision": options.revision,
    }
    onnx_ok = resolved == "cpu" and _has_onnxruntime()
    specs = eligible_specs(
        resolved,
        backend=options.backend,
        quantize=options.quantize,
        precision=options.precision,
        onnx_available=onnx_ok,
    )
    if not specs:  # pins that cannot hold together: relax them, and say so
        if options.backend == "onnx":
            logger.warning("the ONNX backend runs on the CPU only (asked for %s): using the CPU", resolved)
            resolved = "cpu"
            specs = [EngineSpec("onnx", "float32", "int8" if options.quantize == "int8" else "none")]
        else:
            if options.quantize == "int8":
                logger.warning("quantize=int8 needs the ONNX backend; torch runs unquantised")
            specs = [EngineSpec("torch", "float32" if options.precision == "auto" else options.precision)]

    def build(spec: EngineSpec) -> ScoringEngine:
        if spec.backend == "onnx":
            from rag_core.engines._onnx import OnnxEngine

            return OnnxEngine(model_name, quantize=spec.quantize, **common)
        return TorchEngine(model_name, device=resolved, precision=spec.precision, **common)  # type: ignore[arg-type]

    key = None
    if len(specs) > 1:
        from rag_core._hub import resolve_model_dir

        key = decision_key(
            resolve_model_dir(model_name, options.revision), resolved, options.threads or default_threads(), specs
        )
    engine, selection = select_engine(specs, build, key=key, model_name=model_name, reselect=reselect)
    engine.selection = selection
    return engine


def decide_engine(model_name: str, options: EngineOptions | None = None) -> tuple[EngineOptions, dict[str, Any]]:
    """The engine ``auto`` chooses for ``model_name`` here, as pinned options (and the selection
    record): what a deployment's driver hands to every replica, so that all of them score with
    the same engine and precision. Options already pinned come back unchanged."""
    from rag_core.engines._select import parse_spec

    options = options or EngineOptions()
    if options.pinned:
        return options, {"chosen": None, "reason": "pinned", "measured": []}
    engine = create_engine(model_name, options)
    selection = dict(engine.selection or {})
    engine.close()
    spec = parse_spec(str(selection["chosen"]))
    return options.replace(**spec.pins()), selection


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency, but a torch-only install may strip it
        return False
    return True
