"""The embedding interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

__all__ = ["Embedder"]


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors (so inner product = cosine)."""

    model_name: str
    dimension: int

    @abstractmethod
    def embed_documents(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """An ``(len(texts), dimension)`` array, one normalised row per text."""

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised ``(dimension,)`` vector."""
        return self.embed_documents([text])[0]
