"""Building distillation data: candidates for many queries, scored by an offline teacher."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from rag_core._documents import Document
from rag_core.datasets import Qrels, RankedList
from rag_core.embeddings import Embedder
from rag_core.retrieval import BM25Retriever, InMemoryVectorStore, reciprocal_rank_fusion
from rag_core.training._examples import TrainingGroup, groups_from_trec
from rag_core.training._teachers import TeacherSpec, combine

__all__ = ["build_distillation_groups", "iter_distillation_groups"]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class _Scorers:
    """Holds the corpus-wide state the teachers need (embeddings, BM25, cross-encoders)."""

    def __init__(
        self,
        teachers: Sequence[TeacherSpec],
        corpus: dict[str, str],
        embedders: dict[str, Embedder],
        bm25: BM25Retriever,
        store: InMemoryVectorStore | None,
    ) -> None:
        self.teachers = teachers
        self.corpus = corpus
        self.embedders = embedders
        self.bm25 = bm25
        self.store = store
        self._vectors: dict[str, dict[str, np.ndarray]] = {}
        self._rerankers: dict[str, object] = {}

    def vectors(self, model: str, ids: Sequence[str]) -> np.ndarray:
        cache = self._vectors.setdefault(model, {})
        missing = [i for i in ids if i not in cache]
        if missing:
            for doc_id, vec in zip(
                missing, self.embedders[model].embed_documents([self.corpus[i] for i in missing]), strict=True
            ):
                cache[doc_id] = vec
        return np.stack([cache[i] for i in ids])

    def score(self, query: str, ids: Sequence[str]) -> np.ndarray:
        parts: list[tuple[float, np.ndarray]] = []
        for spec in self.teachers:
            if spec.kind == "bi":
                model = spec.model or "builtin:all-MiniLM-L6-v2"
                q = self.embedders[model].embed_query(query)
                parts.append((spec.weight, self.vectors(model, ids) @ q))
            elif spec.kind == "bm25":
                hits = {d.id: s for d, s in self.bm25.search(query, k=len(self.bm25))}
                parts.append((spec.weight, np.array([hits.get(i, 0.0) for i in ids])))
            else:
                from rag_core.rerankers import CrossEncoderReranker

                reranker = self._rerankers.get(str(spec.model))
                if reranker is None:
                    reranker = CrossEncoderReranker(str(spec.model), backend="onnx")
                    self._rerankers[str(spec.model)] = reranker
                result = reranker.engine.score([(query, self.corpus[i]) for i in ids])  # type: ignore[attr-defined]
                parts.append((spec.weight, np.asarray(result.logits, dtype=np.float64)))
        return combine(parts)


def iter_distillation_groups(
    *,
    teachers: Sequence[TeacherSpec],
    corpus: dict[str, str],
    queries: dict[str, str],
    judged_runs: Sequence[Sequence[RankedList]] = (),
    qrels: Qrels | None = None,
    depth: int = 30,
    judged_depth: int | None = None,
    embedder_factory: Callable[[str], Embedder],
    skip: Collection[str] = (),
    progress: Progress | None = None,
    pair_scorer: Callable[[list[tuple[str, str]]], np.ndarray] | None = None,
    chunk: int = 256,
) -> Iterator[tuple[str, TrainingGroup]]:
    """Yield ``(key, group)``: teacher-scored groups for the judged queries of ``judged_runs``
    (their run candidates, at most ``judged_depth`` of them, graded labels and teacher scores;
    key ``judged:QID``), then for the unjudged ``queries`` (candidates: BM25 and dense retrieval
    over ``corpus``, RRF-fused, ``depth`` deep; key = the query's key). Keys in ``skip`` are
    passed over without scoring, so an interrupted job resumes where it stopped. Unjudged
    groups list passages best-first by teacher.

    ``pair_scorer`` (a single cross-encoder teacher, e.g. scoring on Ray Data) replaces the
    per-query teacher calls with one bulk call per ``chunk`` queries."""
    logger.info(
        "building distillation data: %d queries, %d passages, teachers %s",
        len(queries),
        len(corpus),
        ", ".join(f"{t.kind}:{t.model or ''}={t.weight}" for t in teachers),
    )
    judged = groups_from_trec(judged_runs, qrels or {}, with_qids=True) if judged_runs else []
    todo_judged = [(f"judged:{qid}", g) for qid, g in judged if f"judged:{qid}" not in skip]
    todo_queries = [(k, q) for k, q in queries.items() if k not in skip]
    total = len(judged) + len(queries)
    done = total - len(todo_judged) - len(todo_queries)
    if not todo_judged and not todo_queries:
        return
    documents = [Document(text, id=doc_id) for doc_id, text in corpus.items()]
    bm25 = BM25Retriever.from_documents(documents)
    models = {t.model or "builtin:all-MiniLM-L6-v2" for t in teachers if t.kind == "bi"}
    embedders = {m: embedder_factory(m) for m in models}
    retrieval_model = "builtin:all-MiniLM-L6-v2"
    if todo_queries and retrieval_model not in embedders:
        embedders[retrieval_model] = embedder_factory(retrieval_model)
    scorers = _Scorers(teachers, corpus, embedders, bm25, None)
    store = None
    if todo_queries:
        logger.info("embedding the corpus for dense candidates")
        matrix = scorers.vectors(retrieval_model, list(corpus))
        store = InMemoryVectorStore(embedders[retrieval_model])
        store.add_documents(documents, matrix)
    text_to_id = {text: doc_id for doc_id, text in corpus.items()}

    def judged_jobs() -> Iterator[_Job]:
        for key, full in todo_judged:
            group = full
            if judged_depth is not None:
                labels = None if full.labels is None else full.labels[:judged_depth]
                group = TrainingGroup(full.query, full.passages[:judged_depth], labels)
            cand_ids = [text_to_id.get(p) for p in group.passages]
            if any(c is None for c in cand_ids):  # passages outside the corpus: score by text
                extra = {f"judged:{n}": p for n, p in enumerate(group.passages) if text_to_id.get(p) is None}
                corpus.update(extra)
                text_to_id.update({p: k for k, p in extra.items()})
                cand_ids = [text_to_id[p] for p in group.passages]
            yield _Job(key, group.query, [str(c) for c in cand_ids], group)

    def query_jobs() -> Iterator[_Job | None]:
        for key, query in todo_queries:
            assert store is not None
            dense = [d.id for d, _ in store.similarity_search_with_score(query, depth)]
            sparse = [d.id for d, _ in bm25.search(query, depth)]
            fused = reciprocal_rank_fusion({"vector": [str(d) for d in dense], "bm25": [str(d) for d in sparse]})
            cand = [item.key for item in fused[:depth]]
            yield _Job(key, query, cand, None) if len(cand) >= 4 else None

    def scored(jobs: Iterator[_Job | None]) -> Iterator[tuple[_Job | None, np.ndarray | None]]:
        """Jobs with their teacher scores: one job at a time, or ``chunk`` jobs per bulk call."""
        if pair_scorer is None:
            for job in jobs:
                yield job, None if job is None else scorers.score(job.query, job.cand_ids)
            return
        pending: list[_Job | None] = []
        for job in jobs:
            pending.append(job)
            if sum(j is not None for j in pending) >= chunk:
                yield from _bulk(pending, pair_scorer, corpus)
                pending = []
        yield from _bulk(pending, pair_scorer, corpus)

    for job, scores in scored(itertools.chain(judged_jobs(), query_jobs())):
        done += 1
        if progress:
            progress(done, total)
        if job is None or scores is None:
            continue
        if job.group is not None:  # judged: keep the run order and the labels
            yield job.key, job.group._replace(teacher=[float(s) for s in scores])
            continue
        order = np.argsort(-scores, kind="stable")
        teacher = [float(scores[i]) for i in order]
        yield job.key, TrainingGroup(job.query, [corpus[job.cand_ids[i]] for i in order], None, teacher)


class _Job(NamedTuple):
    key: str
    query: str
    cand_ids: list[str]
    group: TrainingGroup | None  # judged groups keep their passages and labels


def _bulk(
    jobs: list[_Job | None], pair_scorer: Callable[[list[tuple[str, str]]], np.ndarray], corpus: dict[str, str]
) -> Iterator[tuple[_Job | None, np.ndarray | None]]:
    real = [j for j in jobs if j is not None]
    pairs = [(j.query, corpus[c]) for j in real for c in j.cand_ids]
    logits = np.asarray(pair_scorer(pairs), dtype=np.float64) if pairs else np.zeros(0)
    start = 0
    for job in jobs:
        if job is None:
            yield None, None
            continue
        stop = start + len(job.cand_ids)
        yield job, logits[start:stop]
        start = stop


def build_distillation_groups(**kwargs: Any) -> list[TrainingGroup]:
    """All of :func:`iter_distillation_groups` as a list (same keyword arguments)."""
    groups = [group for _, group in iter_distillation_groups(**kwargs)]
    logger.info("built %d groups", len(groups))
    return groups
