"""The registry: reranker type names → classes, imported lazily, with the extra to install."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple

from rag_core._errors import ConfigurationError, RerankerUnavailableError

if TYPE_CHECKING:
    from rag_core.rerankers._base import BaseReranker

__all__ = ["RerankerEntry", "get_reranker_class", "known_types", "register_reranker"]


class RerankerEntry(NamedTuple):
    target: str  # "module:Class"
    extra: str | None  # pip extra that provides its dependencies
    description: str


_REGISTRY: dict[str, RerankerEntry] = {
    "cross_encoder": RerankerEntry(
        "rag_core.rerankers._cross_encoder:CrossEncoderReranker",
        None,
        "cross-encoder (query and document read together); torch or ONNX Runtime",
    ),
    "bi_encoder": RerankerEntry(
        "rag_core.rerankers._bi_encoder:BiEncoderReranker",
        None,
        "cosine similarity of sentence embeddings",
    ),
    "remote": RerankerEntry(
        "rag_core.rerankers._remote:RemoteReranker",
        None,
        "any Cohere-compatible /v1/rerank over HTTP (RERANKER_URL): ours, Cohere, Jina, a Ray Serve deployment",
    ),
}


def register_reranker(name: str, target: str, *, extra: str | None = None, description: str = "") -> None:
    """Register a reranker type (``target`` is ``"package.module:ClassName"``)."""
    if ":" not in target:
        raise ConfigurationError(f"target must look like 'module:Class', got {target!r}")
    _REGISTRY[name.strip().lower()] = RerankerEntry(target, extra, description)


def known_types() -> list[str]:
    return sorted(_REGISTRY)


def get_reranker_class(name: str) -> type[BaseReranker]:
    key = name.strip().lower()
    entry = _REGISTRY.get(key)
    if entry is None:
        raise ConfigurationError(f"unknown reranker type {name!r}; known types: {', '.join(known_types())}")
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"pip install 'rag-rerank[{entry.extra}]'" if entry.extra else "reinstall rag-rerank"
        raise RerankerUnavailableError(
            f"reranker type {name!r} needs a missing dependency ({exc.name}); {hint}"
        ) from exc
    cls: type[BaseReranker] = getattr(module, class_name)
    return cls
