"""Result types of a rerank call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from rag_core._documents import Document

__all__ = ["RerankResult", "RerankStats"]


class RerankStats(NamedTuple):
    """Timing and score summary of one rerank call (the spec's latency check and monitoring)."""

    model: str
    backend: str
    documents: int
    returned: int
    elapsed_ms: float
    per_document_ms: float
    top1_changed: bool
    score_max: float | None
    score_min: float | None
    score_mean: float | None
    #: The instruction the model read (None: it reads none, or none applied).
    instruction: str | None = None
    #: Set when the model does not read the query's (or passages') script, per its card.
    language_warning: str | None = None


class RerankResult(list[Document]):
    """The reranked documents, best first, with the call's :class:`RerankStats` in ``.stats``.

    It is a ``list[Document]``, so code written for the spec's examples works unchanged.
    """

    stats: RerankStats

    def __init__(self, documents: Iterable[Document], stats: RerankStats) -> None:
        super().__init__(documents)
        self.stats = stats
