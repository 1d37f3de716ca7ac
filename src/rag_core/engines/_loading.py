"""Helpers shared by engines to open a checkpoint folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rag_core._errors import ModelLoadError
from rag_core._hub import resolve_model_dir
from rag_core.engines._tokenization import LongDocumentMode, PairTokenizer, load_tokenizer

__all__ = ["default_threads", "open_checkpoint", "read_config"]

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
    folder = resolve_model_dir(model_name, revision)
    config = read_config(folder)
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
