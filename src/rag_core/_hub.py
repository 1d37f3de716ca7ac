"""Resolving model names to local folders: a local path, the Hugging Face cache, or the hub."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from rag_core._errors import ModelLoadError

__all__ = ["fetch_optional_file", "hub_endpoint", "hub_reachable", "resolve_model_dir"]

logger = logging.getLogger(__name__)

_PROBE_CACHE: dict[str, tuple[float, bool]] = {}
_PROBE_TTL_S = 60.0


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick request to the hub (or ``HF_ENDPOINT``); cached for a minute.

    ``huggingface_hub`` retries a dead network for ~25 s per file; probing once first turns an
    unreachable hub into an immediate, clear error (or an immediate fallback).
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = hub_endpoint()
    cached = _PROBE_CACHE.get(endpoint)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _PROBE_TTL_S:
        return cached[1]
    import httpx

    try:
        httpx.head(endpoint, timeout=timeout, follow_redirects=True)
        ok = True
    except httpx.HTTPError as exc:
        logger.warning("Hugging Face hub %s is unreachable: %s", endpoint, exc)
        ok = False
    _PROBE_CACHE[endpoint] = (now, ok)
    return ok


def onnx_only(folder: Path) -> bool:
    """A folder holding just an ONNX graph and its tokenizer (no transformers config)."""
    return (folder / "model.onnx").is_file() and (folder / "tokenizer.json").is_file()


def resolve_model_dir(name_or_path: str, revision: str | None = None) -> Path:
    """Return a local folder holding the model ``name_or_path``.

    A local folder is used as is. A hub id is taken from the local cache when present, else
    downloaded (config, weights, tokenizer, and ONNX exports when the repository has them).
    Raises :class:`ModelLoadError` with remedies when neither works.
    """
    from rag_core.models._builtin import BUILTIN_PREFIX, resolve_builtin

    if name_or_path.startswith(BUILTIN_PREFIX):
        return resolve_builtin(name_or_path)[1]
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not onnx_only(path):
            raise ModelLoadError(
                name_or_path, f"folder {path} has no config.json (nor model.onnx + tokenizer.json): not a model folder"
            )
        return path
    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if looks_local:
        raise ModelLoadError(name_or_path, f"no such folder: {path}")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub comes with transformers
        raise ModelLoadError(name_or_path, "huggingface_hub is not installed") from exc
    patterns = ["*.json", "*.txt", "*.model", "*.safetensors"]
    try:
        return Path(snapshot_download(name_or_path, revision=revision, local_files_only=True, allow_patterns=patterns))
    except Exception:
        pass
    if not hub_reachable():
        raise ModelLoadError(
            name_or_path,
            f"it is not in the local Hugging Face cache and the hub ({hub_endpoint()}) cannot be reached",
        )
    try:
        folder = Path(snapshot_download(name_or_path, revision=revision, allow_patterns=patterns))
    except Exception as exc:
        raise ModelLoadError(name_or_path, f"{type(exc).__name__}: {exc}") from exc
    if not (folder / "config.json").is_file():
        raise ModelLoadError(name_or_path, "the repository has no config.json")
    if not any(folder.glob("*.safetensors")):  # older repositories only have pytorch_model.bin
        fetch_optional_file(name_or_path, "pytorch_model.bin", revision)
    return folder


def fetch_optional_file(repo_id: str, filename: str, revision: str | None = None) -> Path | None:
    """Download one file of a hub repository (e.g. ``onnx/model.onnx``); None when it has none."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover
        return None
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, local_files_only=True))
    except Exception:
        pass
    if not hub_reachable():
        return None
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except Exception as exc:
        logger.debug("%s has no %s: %s", repo_id, filename, exc)
        return None
