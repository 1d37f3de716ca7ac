"""A/B assignment: which share of /query traffic gets reranking."""

from __future__ import annotations

import hashlib
import random
from typing import Literal

__all__ = ["CONTROL", "TREATMENT", "Variant", "assign_variant"]

Variant = Literal["A_no_reranker", "B_with_reranker"]
CONTROL: Variant = "A_no_reranker"
TREATMENT: Variant = "B_with_reranker"


def assign_variant(ratio: float, subject: str | None = None, *, rng: random.Random | None = None) -> Variant:
    """``TREATMENT`` (reranked) for a ``ratio`` share of traffic.

    With a user or session id the assignment is deterministic (a hash of the id places it in
    [0, 1)), so a user stays in one arm; without one it is random per request.
    """
    if ratio >= 1.0:
        return TREATMENT
    if ratio <= 0.0:
        return CONTROL
    if subject:
        bucket = int.from_bytes(hashlib.sha256(subject.encode("utf-8")).digest()[:8], "big") / 2**64
    else:
        bucket = (rng or random).random()
    return TREATMENT if bucket < ratio else CONTROL
