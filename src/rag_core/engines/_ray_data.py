"""Batch scoring on Ray Data: many (query, passage) pairs scored by a pool of engine actors
(``map_batches`` over an ``ActorPoolStrategy``), so labelling a million pairs is a matter of
adding machines or a GPU node. Needs the ``ray`` extra.

Each actor loads the engine once (threads set explicitly: Ray pins ``OMP_NUM_THREADS`` and ONNX
Runtime ignores it). Results come back in input order (an index column travels with each pair).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag_core._errors import MissingExtraError

__all__ = ["PairScorerActor", "score_pairs_ray"]

logger = logging.getLogger(__name__)


class PairScorerActor:
    """A Ray Data UDF: builds the engine in ``__init__``, scores a batch of pairs per call."""

    def __init__(self, model_name: str, engine_options: dict[str, Any], threads: int) -> None:
        from rag_core.engines import create_engine

        os.environ["OMP_NUM_THREADS"] = str(threads)
        self.engine = create_engine(model_name, threads=threads, **engine_options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pairs = list(zip(batch["query"].tolist(), batch["text"].tolist(), strict=True))
        result = self.engine.score(pairs)
        return {"idx": batch["idx"], "logit": result.logits.astype(np.float32), "windows": result.windows}


def score_pairs_ray(
    model_name: str,
    pairs: Sequence[tuple[str, str]],
    *,
    actors: int = 2,
    cpus_per_actor: float = 1.0,
    batch_size: int = 256,
    engine_options: dict[str, Any] | None = None,
    address: str | None = None,
) -> np.ndarray:
    """Raw logits of ``pairs`` (input order), scored by ``actors`` engine actors on Ray.

    Connects to ``address`` (a running cluster), or to the Ray already initialised in this
    process, or starts a local one. ``engine_options`` go to
    :func:`~rag_core.engines.create_engine` (``backend``, ``quantize``, ``max_length``, ...); what
    they leave at ``auto`` is decided once here and pinned for every actor, so that all of them
    score alike.
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingExtraError("--ray needs Ray Data: pip install 'rag-rerank[ray]'") from exc
    if not pairs:
        return np.zeros(0, dtype=np.float32)
    if not ray.is_initialized():
        if address is None:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    threads = max(1, int(cpus_per_actor))
    # one decision for every actor: measured (or read from the cache) here, then pinned
    from rag_core.engines._factory import EngineOptions, decide_engine

    requested = dict(engine_options or {})
    pinned, _ = decide_engine(model_name, EngineOptions.from_mapping({**requested, "threads": threads}))
    requested.update(backend=pinned.backend, precision=pinned.precision, quantize=pinned.quantize)
    dataset = ray.data.from_items([{"idx": i, "query": q, "text": t} for i, (q, t) in enumerate(pairs)])
    scored = dataset.map_batches(
        PairScorerActor,
        fn_constructor_kwargs={
            "model_name": model_name,
            "engine_options": requested,
            "threads": threads,
        },
        compute=ray.data.ActorPoolStrategy(size=actors),
        batch_size=batch_size,
        num_cpus=cpus_per_actor,
    )
    frame = scored.to_pandas().sort_values("idx")
    logits = frame["logit"].to_numpy(dtype=np.float32)
    if len(logits) != len(pairs):
        raise RuntimeError(f"Ray Data returned {len(logits)} scores for {len(pairs)} pairs")
    logger.info("scored %d pairs on Ray Data with %d actors", len(pairs), actors)
    return logits
