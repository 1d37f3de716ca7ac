"""Teachers: offline scorers that label (query, passage) candidates for distillation.

A teacher spec is ``KIND[:MODEL][=WEIGHT]``:

* ``bi[:MODEL]`` cosine of sentence embeddings (default model: the shipped all-MiniLM-L6-v2)
* ``bm25`` BM25 over the candidate corpus
* ``ce:MODEL`` a cross-encoder (logits)

Several teachers form an ensemble: each teacher's scores are standardised per query
(z-scores), then summed with the weights; a single teacher's scores are kept as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from rag_core._errors import ConfigurationError

__all__ = ["TeacherSpec", "parse_teacher", "standardise"]

logger = logging.getLogger(__name__)


class TeacherSpec(NamedTuple):
    kind: str
    model: str | None
    weight: float


def parse_teacher(spec: str) -> TeacherSpec:
    body, _, weight = spec.partition("=")
    kind, _, model = body.partition(":")
    kind = kind.strip().lower()
    if kind not in ("bi", "bm25", "ce"):
        raise ConfigurationError(f"teacher {spec!r}: kind must be bi, bm25 or ce")
    if kind == "ce" and not model:
        raise ConfigurationError(f"teacher {spec!r}: a cross-encoder teacher needs a model (ce:PATH)")
    try:
        value = float(weight) if weight else 1.0
    except ValueError as exc:
        raise ConfigurationError(f"teacher {spec!r}: weight must be a number") from exc
    return TeacherSpec(kind, model or None, value)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per-query z-scores (a constant list maps to zeros)."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.std()
    return (scores - scores.mean()) / spread if spread > 1e-12 else np.zeros_like(scores)


def combine(per_teacher: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    """One teacher: its scores times its weight (a cross-encoder's logit scale is kept, which
    margin and listwise losses rely on). Several: the weighted sum of per-query z-scores."""
    if len(per_teacher) == 1:
        weight, scores = per_teacher[0]
        return weight * np.asarray(scores, dtype=np.float64)
    total = np.zeros_like(per_teacher[0][1], dtype=np.float64)
    for weight, scores in per_teacher:
        total += weight * standardise(scores)
    return total
