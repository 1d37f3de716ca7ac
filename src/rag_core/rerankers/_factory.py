"""``RerankerFactory``: build a reranker from a type name and a config, or from settings."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from rag_core._errors import ConfigurationError, MissingExtraError, ModelLoadError
from rag_core.models._builtin import BUILTIN_PREFIX, resolve_builtin
from rag_core.rerankers._base import BaseReranker
from rag_core.rerankers._registry import get_reranker_class, known_types

__all__ = ["RerankerFactory", "RerankerSettings", "config_from_settings", "detect_reranker_type"]

logger = logging.getLogger(__name__)

#: Config keys accepted as synonyms of constructor arguments (the spec uses "model").
_ALIASES = {"model": "model_name", "model_name_or_path": "model_name"}


def detect_reranker_type(model_name: str) -> str | None:
    """The reranker type a checkpoint needs, from its config (``llm`` for a causal LM, ``colbert``
    for a ColBERT / PyLate checkpoint), or None when it is a cross-encoder or cannot be read
    (loading then fails with the full error)."""
    import json

    from rag_core._hub import resolve_model_dir

    try:
        folder = resolve_model_dir(model_name)
    except ModelLoadError:
        return None
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    architectures = " ".join(config.get("architectures") or [])
    if "ColBERT" in architectures or (folder / "artifact.metadata").is_file():
        return "colbert"
    modules = folder / "modules.json"
    if modules.is_file() and "pylate" in modules.read_text(encoding="utf-8").lower():
        return "colbert"
    causal = "CausalLM" in architectures or "LMHeadModel" in architectures
    if causal and "SequenceClassification" not in architectures:
        return "llm"
    return None


class RerankerSettings(Protocol):
    """What :meth:`RerankerFactory.create_from_settings` reads: the service's ``AppSettings`` (or
    any object with these attributes, and ``reranker_<argument>`` for constructor arguments)."""

    reranker_enabled: bool
    reranker_type: str
    reranker_model: str
    reranker_fallback_model: str | None


def config_from_settings(settings: Any, reranker_type: str) -> dict[str, Any]:
    """The constructor arguments of ``reranker_type`` that ``settings`` sets: each argument ``x``
    comes from the attribute ``reranker_x`` (``model_name`` from ``reranker_model``); secrets are
    unwrapped, and a None where the constructor has a non-None default keeps that default. No
    argument list is copied by hand, so a new constructor argument is a new setting away."""
    cls = get_reranker_class(reranker_type)
    config: dict[str, Any] = {}
    params = dict(inspect.signature(cls.__init__).parameters)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        # it hands options on (an ensemble to its members): every reranker_<x> setting a reranker
        # class takes goes along, and each member keeps those its own class accepts
        for kind in known_types():
            try:
                other = get_reranker_class(kind)
            except MissingExtraError:  # a family whose extra is not installed cannot be a member
                continue
            for name, param in inspect.signature(other.__init__).parameters.items():
                if name not in params and name not in ("model_name", "top_n"):
                    params[name] = param
    for name, param in params.items():
        if name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        attribute = "reranker_model" if name == "model_name" else f"reranker_{name}"
        if not hasattr(settings, attribute):
            continue
        value = getattr(settings, attribute)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if value is None and param.default is not inspect.Parameter.empty and param.default is not None:
            continue
        config[name] = value
    return config


class RerankerFactory:
    """Creates rerankers by type name (see :func:`~rag_core.rerankers.known_types`)."""

    @staticmethod
    def create_sync(reranker_type: str = "cross_encoder", config: Mapping[str, Any] | None = None) -> BaseReranker:
        """Blocking twin of :meth:`create`."""
        cls = get_reranker_class(reranker_type)
        kwargs: dict[str, Any] = {}
        for key, value in (config or {}).items():
            kwargs[_ALIASES.get(key, key)] = value
        model = kwargs.get("model_name")
        if isinstance(model, str) and model.startswith(BUILTIN_PREFIX):
            builtin_type, _ = resolve_builtin(model)
            if builtin_type != cls.name:
                cls = get_reranker_class(builtin_type)
                kwargs = RerankerFactory._accepted(cls, kwargs, strict=False)
        elif isinstance(model, str) and cls.name == "cross_encoder":
            family = detect_reranker_type(model)
            if family is not None and family != cls.name:
                logger.info("%s is a %s checkpoint: using the %s reranker type", model, family, family)
                cls = get_reranker_class(family)
                kwargs = RerankerFactory._accepted(cls, kwargs, strict=False)
        accepted = RerankerFactory._accepted(cls, kwargs, strict=True)
        return cls(**accepted)

    @staticmethod
    def _accepted(reranker_cls: type[BaseReranker], kwargs: dict[str, Any], *, strict: bool) -> dict[str, Any]:
        params = inspect.signature(reranker_cls.__init__).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return dict(kwargs)  # it hands options on (an ensemble to its members), which filter them
        unknown = [k for k in kwargs if k not in params]
        if unknown and strict:
            valid = sorted(p for p in params if p != "self")
            raise ConfigurationError(
                f"{reranker_cls.name}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(valid)}"
            )
        return {k: v for k, v in kwargs.items() if k in params}

    @staticmethod
    async def create(reranker_type: str = "cross_encoder", config: Mapping[str, Any] | None = None) -> BaseReranker:
        """Build a reranker of ``reranker_type`` from ``config`` (model loading runs off the loop)."""
        return await asyncio.to_thread(RerankerFactory.create_sync, reranker_type, config)

    @staticmethod
    def create_from_settings_sync(settings: RerankerSettings) -> BaseReranker | None:
        """Blocking twin of :meth:`create_from_settings`."""
        if not settings.reranker_enabled:
            logger.info("reranking disabled (RERANKER_ENABLED=false)")
            return None
        reranker_type = settings.reranker_type
        if reranker_type == "cross_encoder":  # a causal LM or a ColBERT checkpoint names its own type
            reranker_type = detect_reranker_type(settings.reranker_model) or reranker_type
        config = config_from_settings(settings, reranker_type)
        try:
            return RerankerFactory.create_sync(reranker_type, config)
        except ModelLoadError as exc:
            fallback = (settings.reranker_fallback_model or "").strip()
            if not fallback:
                raise
            logger.warning(
                "RERANKER FALLBACK: %s could not be loaded (%s). Using the offline fallback %s instead; "
                "rankings will differ from the configured model. Set RERANKER_FALLBACK_MODEL=none (or empty) "
                "to fail instead.",
                settings.reranker_model,
                exc.reason,
                fallback,
            )
            reranker = RerankerFactory.create_sync(settings.reranker_type, {**config, "model_name": fallback})
            reranker.fallback_from = settings.reranker_model
            reranker.fallback_reason = exc.reason
            return reranker

    @staticmethod
    async def create_from_settings(settings: RerankerSettings) -> BaseReranker | None:
        """The reranker the settings describe; ``None`` when ``RERANKER_ENABLED`` is false.

        When the configured model cannot be loaded and ``RERANKER_FALLBACK_MODEL`` is set, the
        fallback is loaded instead and the switch is logged as a warning and recorded on the
        reranker (``fallback_from``, shown by ``describe()``).
        """
        return await asyncio.to_thread(RerankerFactory.create_from_settings_sync, settings)
