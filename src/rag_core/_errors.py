"""Typed exceptions raised by :mod:`rag_core`."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "InvalidInputError",
    "ModelLoadError",
    "RagRerankError",
    "RerankerUnavailableError",
]


class RagRerankError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidInputError(RagRerankError, ValueError):
    """The caller passed something the library cannot work with (empty query, bad top_n, ...)."""


class ConfigurationError(RagRerankError, ValueError):
    """A setting or factory argument is invalid (unknown reranker type, bad option, ...)."""


class RerankerUnavailableError(RagRerankError, ImportError):
    """A reranker type is known but an optional dependency it needs is missing."""


class ModelLoadError(RagRerankError, OSError):
    """A model could not be loaded from the hub or from disk.

    The message names the model and lists the remedies (local folder, ``HF_ENDPOINT`` mirror,
    ``HF_HUB_OFFLINE``) so that the user never has to read a bare traceback.
    """

    def __init__(self, model_name: str, reason: str) -> None:
        self.model_name = model_name
        self.reason = reason
        super().__init__(
            f"Could not load model {model_name!r}: {reason}\n"
            "Remedies:\n"
            f"  1. Download it once where the hub is reachable (e.g. `git clone https://huggingface.co/{model_name}`"
            " or `huggingface-cli download`) and point RERANKER_MODEL at the local folder.\n"
            "  2. Use a mirror: export HF_ENDPOINT=https://hf-mirror.com\n"
            "  3. If the model is already in the local cache, export HF_HUB_OFFLINE=1 to skip the network.\n"
            "  4. Set RERANKER_FALLBACK_MODEL to a model that is available offline (default: the bundled one)."
        )
