"""The service on Ray Serve: the same FastAPI app as the ingress, the cross-encoder as its own
autoscaled deployment whose ``@serve.batch`` merges requests from many clients into one engine
call. Needs the ``ray`` extra.

* ``rag-rerank serve --ray`` runs it on a local Ray (or ``--ray-address`` for a cluster).
* ``serve deploy deploy/serve.yaml`` (or ``serve run``) deploys :func:`build_app` from the config
  the project ships; ``args`` there override settings (``reranker_replicas``, ``max_replicas``,
  ``reranker_num_cpus``, ``ingress_num_cpus``, and any ``AppSettings`` field).

One scoring decision per deployment: :func:`build_app` resolves the model (the offline fallback
if the configured one cannot load) and the engine (measured once here, in the driver, unless
``RERANKER_BACKEND`` / ``_PRECISION`` / ``_QUANTIZE`` pin it) and hands both, pinned, to every
replica, so that two replicas never score the same request differently. A replica whose CPU lacks
the native units for the pinned precision runs it emulated (same scores, slower) and logs an
error; each replica's model, fallback and engine reach ``/health`` (``reranker.replicas``).

Ray sets ``OMP_NUM_THREADS`` to a replica's CPU share (at least 1) and ONNX Runtime ignores it:
the reranker replica sets torch's and ONNX Runtime's threads itself, from ``RERANKER_THREADS``
or its ``num_cpus`` (at least 1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from rag_core import Document, OverloadedError
from rag_core.engines._select import parse_spec
from rag_core.rerankers import BaseReranker, DocumentScores, RerankerFactory
from rag_rerank.settings import AppSettings

__all__ = ["DeploymentPlan", "RayServeReranker", "RerankerDeployment", "build_app", "plan_deployment"]

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


@dataclass
class DeploymentPlan:
    """What every replica runs: the settings with model and engine pinned, and what scores."""

    settings: AppSettings
    identity: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] | None = None


def plan_deployment(settings: AppSettings) -> DeploymentPlan:
    """Decide once, in the driver, what every replica loads: the model actually available (the
    fallback when the configured one is not) and the engine ``auto`` measures here (or the pins).
    The returned settings pin both, so replicas neither fall back nor measure on their own."""
    if not settings.reranker_enabled or settings.reranker_type != "cross_encoder":
        return DeploymentPlan(settings)
    reranker = RerankerFactory.create_from_settings_sync(settings)
    if reranker is None:  # pragma: no cover - enabled above
        return DeploymentPlan(settings)
    try:
        identity = reranker.identity()
        engine = getattr(reranker, "engine", None)
        updates: dict[str, Any] = {"reranker_model": reranker.model_name, "reranker_fallback_model": None}
        selection = None
        if engine is not None:
            spec = parse_spec(engine.engine_name)
            updates.update(
                reranker_backend=spec.backend, reranker_precision=spec.precision, reranker_quantize=spec.quantize
            )
            selection = engine.selection
    finally:
        reranker.close()
    logger.info(
        "deployment plan: %s with %s%s",
        identity["model"],
        identity["engine"],
        f" (fallback for {identity['fallback_from']})" if identity.get("fallback_from") else "",
    )
    return DeploymentPlan(settings.model_copy(update=updates), identity, selection)


@serve.deployment(
    name="Reranker",
    ray_actor_options={"num_cpus": 1},
    max_ongoing_requests=MAX_ONGOING_REQUESTS,
    max_queued_requests=MAX_QUEUED_REQUESTS,
    autoscaling_config={"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8},
)
class RerankerDeployment:
    """One replica of the model tier: loads the planned reranker once, scores merged batches."""

    def __init__(self, settings: AppSettings, num_cpus: float = 1.0, planned: dict[str, Any] | None = None) -> None:
        from rag_core.engines._cpu import current_cpu

        threads = settings.reranker_threads or max(1, int(num_cpus))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        self.settings = settings.model_copy(update={"reranker_threads": threads, "reranker_microbatch_wait_ms": 0.0})
        reranker = RerankerFactory.create_from_settings_sync(self.settings)
        if reranker is None:
            raise RuntimeError("RERANKER_ENABLED=false: there is nothing for the reranker deployment to serve")
        self.reranker = reranker
        self.threads = threads
        mine = reranker.identity()
        planned = planned or {}
        if planned.get("fallback_from"):  # the driver fell back; this replica loads the fallback by name
            mine.update(fallback_from=planned["fallback_from"], fallback_reason=planned.get("fallback_reason"))
        self.identity = {**mine, "pid": os.getpid(), "node": platform.node(), "cpu": current_cpu().kind}
        if planned.get("engine") and planned["engine"] != mine["engine"]:
            logger.error(
                "reranker replica pid %d runs %s, not the deployment's %s: its scores differ from the other replicas'",
                os.getpid(),
                mine["engine"],
                planned["engine"],
            )
        if mine.get("native") is False:
            logger.error(
                "reranker replica pid %d on %s: this CPU (%s) has no native units for %s; it runs emulated "
                "(the deployment's scores, slower). Pin float32 for the deployment, or keep this node out of it.",
                os.getpid(),
                platform.node(),
                current_cpu().kind,
                mine["engine"],
            )
        logger.info("reranker replica pid %d: %s, %s, %d threads", os.getpid(), mine["model"], mine["engine"], threads)

    @serve.batch(max_batch_size=MAX_BATCH_REQUESTS, batch_wait_timeout_s=BATCH_WAIT_S)
    async def score(self, items: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
        """Every request's (query, texts) scored in one engine call; one result per request."""
        pairs = [(query, text) for query, texts in items for text in texts]
        replica = serve.get_replica_context().replica_id.unique_id
        scored = await asyncio.to_thread(self._score_pairs, pairs)
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
                    "identity": self.identity,
                    "batch_requests": len(items),
                }
            )
            start = stop
        return out

    def _score_pairs(self, pairs: list[tuple[str, str]]) -> DocumentScores:
        """All pairs, all queries: one engine call where the reranker can (a cross-encoder), the same
        score conversion as in-process (``rerank_windows``, ``rerank_truncated``)."""
        if not pairs:
            return DocumentScores(np.zeros(0), np.zeros(0), [])
        score_pairs = getattr(self.reranker, "score_pairs", None)
        if score_pairs is not None:
            result: DocumentScores = score_pairs(pairs)
            return result
        by_query: dict[str, list[int]] = {}
        for i, (query, _) in enumerate(pairs):
            by_query.setdefault(query, []).append(i)
        scores = np.zeros(len(pairs))
        raw = np.zeros(len(pairs))
        for query, rows in by_query.items():
            part = self.reranker._score_documents(query, [Document(pairs[i][1]) for i in rows])
            scores[rows] = part.scores
            raw[rows] = part.raw
        return DocumentScores(scores, raw, None)

    def describe(self) -> dict[str, Any]:
        replica = serve.get_replica_context().replica_id.unique_id
        return {**self.reranker.describe(), "identity": self.identity, "replica": replica, "threads": self.threads}


class RayServeReranker(BaseReranker):
    """What the ingress's app sees as its reranker: scoring goes to the Reranker deployment."""

    name: ClassVar[str] = "ray_serve"

    def __init__(self, handle: DeploymentHandle, settings: AppSettings, planned: dict[str, Any] | None = None) -> None:
        super().__init__(
            top_n=settings.reranker_top_n,
            fusion=settings.reranker_fusion,
            fusion_weight=settings.reranker_fusion_weight,
        )
        self.handle = handle
        planned = planned or {}
        self._model = str(planned.get("model") or settings.reranker_model)
        self._engine = str(planned.get("engine") or "ray_serve")
        self.fallback_from = planned.get("fallback_from")
        self.fallback_reason = planned.get("fallback_reason")
        self.replicas: dict[str, dict[str, Any]] = {}  # replica id -> what it scores with
        self.backpressure_retries = 0

    @property
    def model_name(self) -> str:
        return self._model

    @property
    def engine_name(self) -> str:
        return self._engine

    @property
    def replicas_seen(self) -> set[str]:
        return set(self.replicas)

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
            info = await asyncio.wait_for(self.handle.describe.remote(), timeout=2.0)
        except Exception as exc:  # timeout, backpressure or a replica that failed to start
            return f"no reranker replica answered yet ({type(exc).__name__})"
        self._saw(str(info["replica"]), info["identity"])
        return None

    def _saw(self, replica: str, identity: dict[str, Any]) -> None:
        if replica not in self.replicas:
            self.replicas[replica] = identity
            if identity.get("engine") not in (None, self._engine) and self._engine != "ray_serve":
                logger.error("replica %s scores with %s, not %s", replica, identity.get("engine"), self._engine)

    def _to_scores(self, result: dict[str, Any]) -> DocumentScores:
        self._saw(str(result["replica"]), result.get("identity") or {})
        return DocumentScores(np.asarray(result["scores"]), np.asarray(result["raw"]), result["extra"])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "deployment": "Reranker",
            "replicas_seen": len(self.replicas),
            "replicas": [{"replica": rid, **identity} for rid, identity in sorted(self.replicas.items())],
            "backpressure_retries": self.backpressure_retries,
        }


@serve.deployment(name="Ingress", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=256)
@serve.ingress()
class Ingress:
    """The existing FastAPI app (same endpoints, responses and /metrics), built in the replica."""

    def __init__(
        self, reranker: DeploymentHandle, settings: AppSettings, planned: dict[str, Any] | None = None
    ) -> None:
        self.reranker = reranker
        self.settings = settings
        self.planned = planned

    def __serve_build_asgi_app__(self) -> Any:
        from rag_rerank.service.main import create_app

        return create_app(self.settings, reranker=RayServeReranker(self.reranker, self.settings, self.planned))


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
    plan = plan_deployment(AppSettings(**args))
    reranker = RerankerDeployment.options(  # type: ignore[attr-defined]
        ray_actor_options={"num_cpus": num_cpus},
        max_queued_requests=queued,
        autoscaling_config={"min_replicas": replicas, "max_replicas": max_replicas, "target_ongoing_requests": target},
    ).bind(plan.settings, num_cpus, plan.identity)
    return Ingress.options(ray_actor_options={"num_cpus": ingress_cpus}).bind(  # type: ignore[attr-defined]
        reranker, plan.settings, plan.identity
    )
