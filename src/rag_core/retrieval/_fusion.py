"""Reciprocal Rank Fusion (Cormack et al., 2009)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

__all__ = ["FusedItem", "reciprocal_rank_fusion"]


class FusedItem(NamedTuple):
    """A fused result: the key, its RRF score and its 1-based rank in each list that had it."""

    key: str
    score: float
    ranks: dict[str, int]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[str]],
    *,
    k: int = 60,
    weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[FusedItem]:
    """Fuse ranked lists of keys: ``score(d) = Σ_lists weight / (k + rank(d))``.

    Ties are broken by the best single rank, then by the order of first appearance (so the
    result is deterministic). A key repeated within one list counts at its first rank.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    first_seen: dict[str, int] = {}
    for name, keys in rankings.items():
        weight = 1.0 if weights is None else float(weights.get(name, 1.0))
        for rank, key in enumerate(keys, start=1):
            per_key = ranks.setdefault(key, {})
            if name in per_key:
                continue
            per_key[name] = rank
            first_seen.setdefault(key, len(first_seen))
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    ordered = sorted(scores, key=lambda key: (-scores[key], min(ranks[key].values()), first_seen[key]))
    if limit is not None:
        ordered = ordered[:limit]
    return [FusedItem(key, scores[key], ranks[key]) for key in ordered]
