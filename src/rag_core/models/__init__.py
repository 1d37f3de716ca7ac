"""Models that ship with the project or its dependencies, and helpers to build checkpoints."""

from __future__ import annotations

from rag_core.models._builtin import (
    BUILTIN_PREFIX,
    BuiltinModel,
    builtin_languages,
    builtin_models,
    builtin_options,
    minilm_l6_encoder_dir,
    resolve_builtin,
)
from rag_core.models._convert import build_cross_encoder
from rag_core.models._languages import dominant_script, model_languages, script_gap

__all__ = [
    "BUILTIN_PREFIX",
    "BuiltinModel",
    "build_cross_encoder",
    "builtin_languages",
    "builtin_models",
    "builtin_options",
    "dominant_script",
    "minilm_l6_encoder_dir",
    "model_languages",
    "resolve_builtin",
    "script_gap",
]
