"""The service on Ray Serve: the same FastAPI app as the ingress, the cross-encoder as its own
autoscaled deployment whose ``@serve.batch`` merges requests from many clients into one engine
call. Needs the ``ray`` extra.

* ``rag-rerank serve --ray`` runs it on a local Ray (or ``--ray-address`` for a cluster).
* ``serve deploy deploy/serve.yaml`` (or ``serve run``) deploys :func:`build_app` from the config
  the project ships; ``args`` there override settings (``reranker_replicas``, ``max_replicas``,
  ``reranker_num_cpus``, ``ingress_num_cpus``, and any ``AppSettings`` field).

Ray sets ``OMP_NUM_THREADS`` to a replica's CPU share (at least 1) and ONNX Runtime ignores it:
the reranker replica sets torch's and ONNX Runtime's threads itself, from ``RERANKER_THREADS``
or its ``num_cpus`` (at least 1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from rag_core import Document, OverloadedError
from rag_core.rerankers import BaseReranker, DocumentScores, RerankerFactory, sigmoid
from shared_config.settings import AppSettings

__all__ = ["RayServeReranker", "RerankerDeployment", "build_app"]

logger = logging.getLogger("app")

#: Requests merged into one engine call by @serve.batch, and how long a batch waits to fill. Small
#: batches on purpose: every request of a batch finishes when the whole batch does, so a batch of
#: 16 × 20 candidates (~10 s on one CPU core) would push every request of the next one past its
#: deadline. Throughput comes from replicas, not from bigger batches.
MAX_BATCH_REQUESTS = 4
BATCH_WAIT_S = 0.005
#: Per replica: requests in its batch queue (two batches), and requests the router may hold for the
#: deployment beyond that; past both, callers get BackPressureError at once (an immediate 503),
#: instead of waiting in a queue they would leave at their deadline (a 504).
MAX_ONGOING_REQUESTS = 2 * MAX_BATCH_REQUESTS
MAX_QUEUED_REQUESTS = 2 * MAX_BATCH_REQUESTS
#: Ray's router may refuse requests that arrive together below the queue limit (it counts those
#: still being assigned); retry that many times, a few tens of milliseconds apart, before a 503.
BACKPRESSURE_RETRIES = 2
BACKPRESSURE_RETRY_S = 0.02


@serve.deployment(
    name="Reranker",
    ray_actor_options={"num_cpus": 1},
    max_ongoing_requests=MAX_ONGOING_REQUESTS,
    max_queued_requests=MAX_QUEUED_REQUESTS,
    autoscaling_config={"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8},
)
class RerankerDeployment:
    """One replica of the model tier: loads the configured reranker once, scores merged batches."""

    def __init__(self, settings: AppSettings, num_cpus: float = 1.0) -> None:
        threads = settings.reranker_threads or max(1, int(num_cpus))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        self.settings = settings.model_copy(update={"reranker_threads": threads, "reranker_microbatch_wait_ms": 0.0})
        reranker = RerankerFactory.create_from_settings_sync(self.settings)
        if reranker is None:
            raise RuntimeError("RERANKER_ENABLED=false: there is nothing for the reranker deployment to serve")
        self.reranker = reranker
        self.threads = threads
        logger.info("reranker replica pid %d: %s, %d threads", os.getpid(), reranker.model_name, threads)

    @serve.batch(max_batch_size=MAX_BATCH_REQUESTS, batch_wait_timeout_s=BATCH_WAIT_S)
    async def score(self, items: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
        """Every request's (query, texts) scored in one engine call; one result per request."""
        pairs = [(query, text) for query, texts in items for text in texts]
        docs = [Document(text) for _, text in pairs]
        replica = serve.get_replica_context().replica_id.unique_id
        scored = await asyncio.to_thread(self._score_pairs, pairs, docs)
        out = []
        start = 0
        for _, texts in items:
            stop = start + len(texts)
            out.append(
                {
                    "scores": scored.scores[start:stop].tolist(),
                    "raw": scored.raw[start:stop].tolist(),
                    "extra": scored.extra[start:stop] if scored.extra is not None else None,
                    "pid": os.getpid(),
                    "replica": replica,
                    "batch_requests": len(items),
                }
            )
            start = stop
        return out

    def _score_pairs(self, pairs: list[tuple[str, str]], docs: list[Document]) -> DocumentScores:
        if not pairs:
            return DocumentScores(np.zeros(0), np.zeros(0), [])
        by_query: dict[str, list[int]] = {}
        for i, (query, _) in enumerate(pairs):
            by_query.setdefault(query, []).append(i)
        if len(by_query) == 1:
            return self.reranker._score_documents(pairs[0][0], docs)
        engine = getattr(self.reranker, "engine", None)
        if engine is not None:  # a cross-encoder: all pairs, all queries, one engine call
            result = engine.score(pairs)
            extra = [{"rerank_windows": int(w)} for w in result.windows]
            return DocumentScores(sigmoid(result.logits), result.logits.astype("float64"), extra)
        scores = np.zeros(len(pairs))
        raw = np.zeros(len(pairs))
        for query, rows in by_query.items():
            part = self.reranker._score_documents(query, [docs[i] for i in rows])
            scores[rows] = part.scores
            raw[rows] = part.raw
        return DocumentScores(scores, raw, None)

    def describe(self) -> dict[str, Any]:
        return {**self.reranker.describe(), "pid": os.getpid(), "threads": self.threads}


class RayServeReranker(BaseReranker):
    """What the ingress's app sees as its reranker: scoring goes to the Reranker deployment."""

    name: ClassVar[str] = "ray_serve"

    def __init__(self, handle: DeploymentHandle, settings: AppSettings) -> None:
        super().__init__(
            top_n=settings.reranker_top_n,
            fusion=settings.reranker_fusion,
            fusion_weight=settings.reranker_fusion_weight,
        )
        self.handle = handle
        self._model = settings.reranker_model
        self.replicas_seen: set[str] = set()
        self.backpressure_retries = 0

    @property
    def model_name(self) -> str:
        return self._model

    def _score_documents(self, query: str, documents: Sequence[Document]) -> DocumentScores:
        result = self.handle.score.remote((query, [d.page_content for d in documents])).result()
        return self._to_scores(result)

    async def _score_documents_async(
        self, query: str, documents: Sequence[Document], *, deadline: float | None = None
    ) -> DocumentScores:
        from ray.serve.exceptions import BackPressureError

        texts = [d.page_content for d in documents]
        for attempt in range(BACKPRESSURE_RETRIES + 1):
            try:
                result = await self.handle.score.remote((query, texts))
                return self._to_scores(result)
            except BackPressureError as exc:
                # Ray's router counts requests still being assigned as queued, so a burst that
                # arrives at once can be refused below the limit (its router says so). A short,
                # jittered retry absorbs that; a queue that is really full still answers 503 fast.
                wait = BACKPRESSURE_RETRY_S * (attempt + 1) * (0.5 + random.random())
                out_of_time = deadline is not None and time.monotonic() + wait >= deadline
                if attempt == BACKPRESSURE_RETRIES or out_of_time:
                    raise OverloadedError(
                        f"every reranker replica is at its queue limit: {exc}", retry_after_s=1.0
                    ) from exc
                self.backpressure_retries += 1
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def readiness(self) -> str | None:
        """Not ready until a reranker replica answers (its model load and engine choice take a while)."""
        try:
            await asyncio.wait_for(self.handle.describe.remote(), timeout=2.0)
        except Exception as exc:  # timeout, backpressure or a replica that failed to start
            return f"no reranker replica answered yet ({type(exc).__name__})"
        return None

    def _to_scores(self, result: dict[str, Any]) -> DocumentScores:
        self.replicas_seen.add(str(result["replica"]))
        return DocumentScores(np.asarray(result["scores"]), np.asarray(result["raw"]), result["extra"])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "deployment": "Reranker",
            "replicas_seen": len(self.replicas_seen),
            "backpressure_retries": self.backpressure_retries,
        }


@serve.deployment(name="Ingress", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=256)
@serve.ingress()
class Ingress:
    """The existing FastAPI app (same endpoints, responses and /metrics), built in the replica."""

    def __init__(self, reranker: DeploymentHandle, settings: AppSettings) -> None:
        self.reranker = reranker
        self.settings = settings

    def __serve_build_asgi_app__(self) -> Any:
        from app.main import create_app

        return create_app(self.settings, reranker=RayServeReranker(self.reranker, self.settings))


def build_app(args: dict[str, Any] | None = None) -> Any:
    """The Serve application. ``args``: ``reranker_replicas`` (min replicas, default 1),
    ``max_replicas`` (default: min), ``reranker_num_cpus`` (default 1), ``ingress_num_cpus``
    (default 0.5), ``target_ongoing_requests`` (default 4), ``max_queued_requests`` (default 8);
    any other key overrides an
    ``AppSettings`` field (e.g. ``reranker_model``)."""
    args = dict(args or {})
    replicas = int(args.pop("reranker_replicas", 1))
    max_replicas = int(args.pop("max_replicas", replicas))
    num_cpus = float(args.pop("reranker_num_cpus", 1.0))
    ingress_cpus = float(args.pop("ingress_num_cpus", 0.5))
    target = float(args.pop("target_ongoing_requests", MAX_BATCH_REQUESTS))
    queued = int(args.pop("max_queued_requests", MAX_QUEUED_REQUESTS))
    settings = AppSettings(**args)
    reranker = RerankerDeployment.options(  # type: ignore[attr-defined]
        ray_actor_options={"num_cpus": num_cpus},
        max_queued_requests=queued,
        autoscaling_config={"min_replicas": replicas, "max_replicas": max_replicas, "target_ongoing_requests": target},
    ).bind(settings, num_cpus)
    return Ingress.options(ray_actor_options={"num_cpus": ingress_cpus}).bind(reranker, settings)  # type: ignore[attr-defined]
