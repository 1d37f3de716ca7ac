"""Helpers shared by engines to open a checkpoint folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rag_core._errors import ModelLoadError
from rag_core._hub import resolve_model_dir
from rag_core.engines._tokenization import LongDocumentMode, PairTokenizer, load_tokenizer

__all__ = ["check_cross_encoder", "default_threads", "load_sequence_classifier", "open_checkpoint", "read_config"]

#: Architectures whose position ids start after the padding index (2 positions are unusable).
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer"}


def default_threads() -> int:
    """Physical cores (hyper-threads do not help dense matrix products), at least 1."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover
        physical = None
    return max(1, physical or os.cpu_count() or 1)


def read_config(folder: Path) -> dict[str, Any]:
    if not (folder / "config.json").is_file():
        return {}  # an ONNX-only folder: the graph and the tokenizer say all we need
    try:
        config: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(str(folder), f"unreadable config.json: {exc}") from exc
    return config


def check_cross_encoder(model_name: str, revision: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The model's folder and config, refusing at once a checkpoint whose config names an
    architecture without a relevance head (a causal LM, a plain encoder)."""
    folder = resolve_model_dir(model_name, revision)
    config = read_config(folder)
    architectures = list(config.get("architectures") or [])
    if architectures and not any("ForSequenceClassification" in a for a in architectures):
        kind = "a causal language model" if any("CausalLM" in a for a in architectures) else "an encoder"
        raise ModelLoadError(
            model_name,
            f"its config names {', '.join(architectures)}: {kind} without a relevance head, not a cross-encoder",
            remedies=_family_remedies(architectures),
        )
    return folder, config


def open_checkpoint(
    model_name: str,
    *,
    max_length: int | None,
    long_documents: LongDocumentMode,
    revision: str | None = None,
    max_windows: int | None = None,
) -> tuple[Path, dict[str, Any], PairTokenizer]:
    """Resolve ``model_name`` to a folder and build its :class:`PairTokenizer`.

    ``max_length`` defaults to what the checkpoint declares, capped by its position table.
    """
    folder, config = check_cross_encoder(model_name, revision)
    try:
        tokenizer, pad_id, declared = load_tokenizer(folder)
    except Exception as exc:
        raise ModelLoadError(model_name, f"cannot load its tokenizer: {exc}") from exc
    positions = int(config.get("max_position_embeddings", 512))
    if config.get("model_type") in _OFFSET_POSITIONS:
        positions -= 2
    limit = min(declared or 512, positions)
    if max_length is None:
        max_length = limit
    elif max_length > positions:
        raise ModelLoadError(model_name, f"max_length {max_length} exceeds the model's {positions} positions")
    pair_tokenizer = PairTokenizer(
        tokenizer, max_length, pad_id=pad_id, long_documents=long_documents, max_windows=max_windows
    )
    return folder, config, pair_tokenizer


def _family_remedies(architectures: list[str]) -> list[str]:
    """What to use instead when a checkpoint is not a cross-encoder, by its architecture."""
    names = " ".join(architectures)
    if "CausalLM" in names or "LMHeadModel" in names:
        return [
            "This is a causal language model: set RERANKER_TYPE=llm (Qwen3-Reranker or bge-reranker-v2-gemma "
            "style: the model answers yes or no, its 'yes' probability is the score).",
            "Or pick a cross-encoder checkpoint (a *ForSequenceClassification with a trained head).",
        ]
    return [
        "This checkpoint has no trained relevance head: it is an encoder. Use RERANKER_TYPE=bi_encoder for a "
        "sentence-embedding model, or RERANKER_TYPE=colbert for a ColBERT / PyLate checkpoint.",
        "Or pick a cross-encoder checkpoint (a *ForSequenceClassification with a trained head), e.g. "
        "cross-encoder/ms-marco-MiniLM-L-6-v2 or builtin:balanced.",
    ]


def load_sequence_classifier(folder: Path, model_name: str, **kwargs: Any) -> Any:
    """``AutoModelForSequenceClassification`` from ``folder``, refusing a checkpoint whose scoring
    head (or any other weight) would be newly initialised: a causal LM or a plain encoder loads
    "successfully" with a random head and ranks at random, so it is a :class:`ModelLoadError`
    naming what is missing and the reranker type that fits."""
    from transformers import AutoModelForSequenceClassification

    architectures = list(read_config(folder).get("architectures") or [])
    causal = [a for a in architectures if "CausalLM" in a or "LMHeadModel" in a]
    if causal and not any("SequenceClassification" in a for a in architectures):
        raise ModelLoadError(
            model_name,
            f"{causal[0]} is a causal language model, not a cross-encoder: it has no relevance head",
            remedies=_family_remedies(architectures),
        )
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            str(folder), output_loading_info=True, **kwargs
        )
    except Exception as exc:
        raise ModelLoadError(model_name, f"{type(exc).__name__}: {exc}") from exc
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.endswith(("position_ids", "num_batches_tracked")))
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise ModelLoadError(
            model_name,
            f"the checkpoint lacks {shown}: loading it as a cross-encoder would score with newly initialised "
            f"(random) weights ({', '.join(architectures) or 'unknown architecture'})",
            remedies=_family_remedies(architectures),
        )
    return model
