"""``from shared_config.settings import AppSettings`` (the specification's path): the settings
live in :mod:`rag_rerank.settings`; this module only re-exports them."""

from __future__ import annotations

from rag_rerank.settings import AppSettings, get_settings

__all__ = ["AppSettings", "get_settings"]
