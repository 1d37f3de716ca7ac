"""Models that ship with the project or its dependencies, and helpers to build checkpoints."""

from __future__ import annotations

from rag_core.models._builtin import (
    BUILTIN_PREFIX,
    BuiltinModel,
    builtin_models,
    minilm_l6_encoder_dir,
    resolve_builtin,
)
from rag_core.models._convert import build_cross_encoder

__all__ = [
    "BUILTIN_PREFIX",
    "BuiltinModel",
    "build_cross_encoder",
    "builtin_models",
    "minilm_l6_encoder_dir",
    "resolve_builtin",
]
