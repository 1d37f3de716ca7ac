"""Small statistics shared by every layer (engines, evaluation, commands): percentiles and the
top-k agreement of two rankings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["percentile", "top_k_agreement"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation); NaN for no values."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def top_k_agreement(
    run: Mapping[str, Mapping[str, float]], reference: Mapping[str, Mapping[str, float]], k: int = 10
) -> float:
    """Mean share of the reference's top-``k`` documents that ``run`` also puts in its top-``k``
    (per query, then averaged; ties are broken by document id, so the result is deterministic)."""

    def top(scores: Mapping[str, float]) -> set[str]:
        return set(sorted(scores, key=lambda doc: (-scores[doc], doc))[:k])

    shared = [
        len(top(run[q]) & top(reference[q])) / min(k, len(reference[q])) for q in reference if reference[q] and q in run
    ]
    return sum(shared) / len(shared) if shared else float("nan")
