"""Application settings shared by the library, the CLI and the service."""

from __future__ import annotations

from shared_config.settings import AppSettings, get_settings

__all__ = ["AppSettings", "get_settings"]
