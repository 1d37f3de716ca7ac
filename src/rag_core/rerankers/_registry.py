"""The registry: reranker type names → classes, imported lazily, with the extra to install."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple

from rag_core._errors import ConfigurationError, RerankerUnavailableError

if TYPE_CHECKING:
    from rag_core.rerankers._base import BaseReranker

__all__ = ["RerankerEntry", "families", "get_reranker_class", "known_types", "register_reranker"]


class RerankerEntry(NamedTuple):
    target: str  # "module:Class"
    extra: str | None  # pip extra that provides its dependencies
    description: str
    examples: str = ""  # checkpoints of this family (where the weights come from)
    needs: str = ""  # what it takes to run it (GPU, memory)


_REGISTRY: dict[str, RerankerEntry] = {
    "cross_encoder": RerankerEntry(
        "rag_core.rerankers._cross_encoder:CrossEncoderReranker",
        None,
        "cross-encoder (query and document read together); torch or ONNX Runtime",
        "builtin:fast/balanced/quality (offline); cross-encoder/ms-marco-MiniLM-L-6-v2, BAAI/bge-reranker-base/-large"
        "/-v2-m3, jinaai/jina-reranker-v2-base-multilingual, mMiniLM (hub)",
        "CPU: 6-layer MiniLM ~100 MB RAM; XLM-R large (bge-reranker-v2-m3) ~2.3 GB, a GPU for interactive use",
    ),
    "bi_encoder": RerankerEntry(
        "rag_core.rerankers._bi_encoder:BiEncoderReranker",
        None,
        "cosine similarity of sentence embeddings",
        "builtin:all-MiniLM-L6-v2, builtin:bge-small-en (quality extra); any sentence-transformers model",
        "CPU; reuses the index's vectors when the embedder matches",
    ),
    "colbert": RerankerEntry(
        "rag_core.rerankers._colbert:ColbertReranker",
        None,
        "late interaction: ColBERT / PyLate checkpoints, MaxSim of token vectors, passage vectors cached",
        "builtin:answerai-colbert-small (quality extra, no projection); answerdotai/answerai-colbert-small-v1, "
        "colbert-ir/colbertv2.0, PyLate checkpoints (hub)",
        "CPU; passage vectors cached (RERANKER_CACHE_MB-style budget, 256 MB default)",
    ),
    "llm": RerankerEntry(
        "rag_core.rerankers._llm:LlmReranker",
        None,
        "an LLM that answers yes or no (Qwen3-Reranker, bge-reranker-v2-gemma prompts); torch, bf16 where native",
        "Qwen/Qwen3-Reranker-0.6B/4B/8B, BAAI/bge-reranker-v2-gemma (hub; none offline)",
        "0.6B: 1.2 GB in bf16, seconds per 20 candidates on a CPU; 4B/8B and gemma: a GPU",
    ),
    "ensemble": RerankerEntry(
        "rag_core.rerankers._ensemble:EnsembleReranker",
        None,
        "several rerankers and the first stage, z-scored per query, weighted by agreement (builtin:ensemble)",
        "builtin:ensemble (balanced + answerai-colbert-small + bge-small-en; quality extra), or your own members",
        "the sum of its members",
    ),
    "listwise": RerankerEntry(
        "rag_core.rerankers._listwise:ListwiseReranker",
        None,
        "RankGPT-style listwise reranking by an LLM behind an OpenAI-compatible chat endpoint (RERANKER_URL)",
        "any chat model you already serve (vLLM, llama.cpp, Ollama, TGI, OpenAI)",
        "nothing here: the LLM server does the work (one call per window of 20)",
    ),
    "remote": RerankerEntry(
        "rag_core.rerankers._remote:RemoteReranker",
        None,
        "any Cohere-compatible /v1/rerank over HTTP (RERANKER_URL): ours, Cohere, Jina, a Ray Serve deployment",
        "whatever the server runs",
        "nothing here: the server does the work",
    ),
}


def register_reranker(name: str, target: str, *, extra: str | None = None, description: str = "") -> None:
    """Register a reranker type (``target`` is ``"package.module:ClassName"``)."""
    if ":" not in target:
        raise ConfigurationError(f"target must look like 'module:Class', got {target!r}")
    _REGISTRY[name.strip().lower()] = RerankerEntry(target, extra, description)


def known_types() -> list[str]:
    return sorted(_REGISTRY)


def families() -> dict[str, RerankerEntry]:
    """Every reranker type with its description, example checkpoints and needs."""
    return dict(sorted(_REGISTRY.items()))


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
