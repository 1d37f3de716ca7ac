"""The specification's import path for the settings (``from shared_config.settings import
AppSettings``), kept for compatibility: the settings live in :mod:`rag_rerank.settings`."""

from __future__ import annotations

from rag_rerank.settings import AppSettings, get_settings

__all__ = ["AppSettings", "get_settings"]
