"""Fusing the reranker's scores with the first stage's, so that a reranker out of its depth on
a new domain cannot undo a good retrieval entirely.

* ``rrf``: Reciprocal Rank Fusion of the two rankings,
  ``1 / (k + rerank_rank) + weight / (k + first_rank)``.
* ``interpolate``: ``(1 - weight) * minmax(logits) + weight * minmax(first_scores)``, both
  min-max normalised within the list; without first-stage scores the first-stage ranks stand
  in (``-rank``).

``weight`` is the first stage's share. The first-stage rank is the input order.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["FusionMethod", "FusionSetting", "fuse_scores", "recommended_fusion"]

FusionMethod = Literal["none", "rrf", "interpolate"]
#: ``auto``: what the model recommends (its ``rag_rerank.json``), else none.
FusionSetting = Literal["auto", "none", "rrf", "interpolate"]


def recommended_fusion(model_name: str) -> tuple[FusionMethod, float | None]:
    """The fusion a checkpoint recommends in its ``rag_rerank.json`` (``{"fusion": {"method",
    "first_stage_weight"}}``): behaviour saved with the model. ``("none", None)`` without one."""
    import json
    import logging

    from rag_core._errors import ModelLoadError
    from rag_core._hub import resolve_model_dir

    try:
        folder = resolve_model_dir(model_name)
    except ModelLoadError:
        return "none", None
    path = folder / "rag_rerank.json"
    if not path.is_file():
        return "none", None
    try:
        spec = json.loads(path.read_text(encoding="utf-8")).get("fusion") or {}
    except ValueError as exc:
        logging.getLogger(__name__).warning("ignoring %s (not valid JSON: %s): no fusion", path, exc)
        return "none", None
    method = spec.get("method", "none")
    weight = spec.get("first_stage_weight")
    if method not in ("none", "rrf", "interpolate"):
        logging.getLogger(__name__).warning("ignoring %s: unknown fusion method %r", path, method)
        return "none", None
    return method, None if weight is None else float(weight)


def _minmax(values: np.ndarray) -> np.ndarray:
    spread = float(values.max() - values.min()) if len(values) else 0.0
    return (values - values.min()) / spread if spread > 1e-12 else np.zeros_like(values)


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, best (highest) first; ties keep the input order."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def fuse_scores(
    logits: np.ndarray,
    first_scores: np.ndarray | None = None,
    *,
    method: FusionMethod = "interpolate",
    weight: float = 0.3,
    k: int = 60,
) -> np.ndarray:
    """Fused scores (higher is better), one per document in input order.

    ``first_scores`` are the first stage's scores in input order (None, or any non-finite
    value: the input order is used instead).
    """
    logits = np.asarray(logits, dtype=np.float64)
    if method == "none" or len(logits) == 0:
        return logits
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"fusion weight must be within [0, 1], got {weight}")
    first_rank = np.arange(1, len(logits) + 1, dtype=np.float64)
    usable = first_scores is not None and len(first_scores) == len(logits)
    first = np.asarray(first_scores, dtype=np.float64) if usable else -first_rank
    if not np.isfinite(first).all():
        first = -first_rank
    if method == "rrf":
        return 1.0 / (k + _ranks(logits)) + weight / (k + first_rank)
    if method == "interpolate":
        finite = logits[np.isfinite(logits)]
        safe = np.where(np.isfinite(logits), logits, finite.min() if len(finite) else 0.0)
        return (1.0 - weight) * _minmax(safe) + weight * _minmax(first)
    raise ValueError(f"unknown fusion method {method!r}; use none, rrf or interpolate")
