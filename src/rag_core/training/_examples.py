"""Training examples: groups of passages for one query, with labels and/or teacher scores."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple, overload

from rag_core._errors import InvalidInputError
from rag_core._jsonl import iter_jsonl
from rag_core.datasets import Qrels, RankedList

__all__ = [
    "SampledGroup",
    "TrainingGroup",
    "groups_from_trec",
    "read_training_jsonl",
    "sample_group",
    "training_keys",
    "training_row",
    "write_training_jsonl",
]


class TrainingGroup(NamedTuple):
    """A query and candidate passages, best first when they come from a run.

    ``labels`` are graded judgments (0 = not relevant) or None where unknown; ``teacher`` holds
    a teacher's scores (higher = more relevant) or is None.
    """

    query: str
    passages: list[str]
    labels: list[float | None] | None = None
    teacher: list[float] | None = None


class SampledGroup(NamedTuple):
    """What one training step sees of a group: ``k`` passages with targets."""

    query: str
    passages: list[str]
    labels: list[float]
    teacher: list[float] | None
    has_labels: bool


def _pair_text(row: dict[str, object], number: int, path: Path) -> str:
    for key in ("passage", "text", "document", "positive"):
        value = row.get(key)
        if isinstance(value, str):
            return value
    raise InvalidInputError(f"{path}:{number}: a pair needs a 'passage' (or 'text') field")


def read_training_jsonl(path: str | Path) -> list[TrainingGroup]:
    """Read pairs (``{"query", "passage", "label"}``) and/or groups
    (``{"query", "passages": [...], "labels"?: [...], "teacher"?: [...]}``); pairs with the same
    query become one group, in file order."""
    path = Path(path)
    groups: list[TrainingGroup] = []
    pairs: OrderedDict[str, tuple[list[str], list[float | None]]] = OrderedDict()
    for number, row in iter_jsonl(path):
        query = row.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError(f"{path}:{number}: 'query' must be a non-empty string")
        if "passages" in row:
            passages = [str(p) for p in row["passages"]]
            labels = row.get("labels")
            teacher = row.get("teacher")
            for name, values in (("labels", labels), ("teacher", teacher)):
                if values is not None and len(values) != len(passages):
                    raise InvalidInputError(
                        f"{path}:{number}: '{name}' has {len(values)} values for {len(passages)} passages"
                    )
            groups.append(TrainingGroup(query, passages, labels, teacher))
            continue
        label = row.get("label")
        if label is None:
            raise InvalidInputError(f"{path}:{number}: a pair needs a 'label'")
        bucket = pairs.setdefault(query, ([], []))
        bucket[0].append(_pair_text(row, number, path))
        bucket[1].append(float(label))
    groups.extend(TrainingGroup(q, p, lab) for q, (p, lab) in pairs.items())
    if not groups:
        raise InvalidInputError(f"{path}: no training examples")
    return groups


def training_row(group: TrainingGroup, key: str | None = None) -> dict[str, object]:
    """The JSONL object of a group (``key`` identifies it for resuming a labelling job)."""
    row: dict[str, object] = {} if key is None else {"key": key}
    row.update({"query": group.query, "passages": group.passages})
    if group.labels is not None:
        row["labels"] = group.labels
    if group.teacher is not None:
        row["teacher"] = [round(float(t), 5) for t in group.teacher]
    return row


def write_training_jsonl(groups: Iterable[TrainingGroup], path: str | Path) -> int:
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for group in groups:
            handle.write(json.dumps(training_row(group), ensure_ascii=False) + "\n")
            count += 1
    return count


def training_keys(path: str | Path) -> set[str]:
    """The ``key`` of every complete line of a (possibly interrupted) training JSONL file; a
    torn last line is cut off so that appending continues cleanly."""
    path = Path(path)
    if not path.is_file():
        return set()
    keys: set[str] = set()
    good = 0
    with path.open("rb") as handle:
        for raw in handle:
            try:
                row = json.loads(raw)
            except ValueError:
                break
            if not raw.endswith(b"\n"):
                break
            if isinstance(row, dict) and isinstance(row.get("key"), str):
                keys.add(row["key"])
            good += len(raw)
    if good < path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good)
    return keys


@overload
def groups_from_trec(
    runs: Sequence[Sequence[RankedList]], qrels: Qrels, *, with_qids: Literal[False] = False
) -> list[TrainingGroup]: ...
@overload
def groups_from_trec(
    runs: Sequence[Sequence[RankedList]], qrels: Qrels, *, with_qids: Literal[True]
) -> list[tuple[str, TrainingGroup]]: ...
def groups_from_trec(
    runs: Sequence[Sequence[RankedList]], qrels: Qrels, *, with_qids: bool = False
) -> list[TrainingGroup] | list[tuple[str, TrainingGroup]]:
    """One group per judged query: the union of the runs' candidates (interleaved by rank, so
    the front of the list holds every run's top hits: the hard negatives), with graded labels
    (None for unjudged passages). ``with_qids``: ``(qid, group)`` pairs."""
    by_query: dict[str, tuple[str, dict[str, str], list[str]]] = {}
    for run in runs:
        for ranked in run:
            if ranked.qid not in qrels:
                continue
            query, texts, order = by_query.setdefault(ranked.qid, (ranked.query, {}, []))
            for cand in ranked.candidates:
                texts.setdefault(cand.docid, cand.text)
    for qid, (_, _, order) in by_query.items():
        depth = max((len(r.candidates) for run in runs for r in run if r.qid == qid), default=0)
        per_run = [found for run in runs if (found := next((r for r in run if r.qid == qid), None)) is not None]
        seen: set[str] = set()
        for rank in range(depth):
            for one in per_run:
                if rank < len(one.candidates):
                    docid = one.candidates[rank].docid
                    if docid not in seen:
                        seen.add(docid)
                        order.append(docid)
    pairs: list[tuple[str, TrainingGroup]] = []
    for qid, (query, texts, order) in by_query.items():
        judged = qrels[qid]
        labels: list[float | None] = [float(judged[d]) if d in judged else None for d in order]
        pairs.append((qid, TrainingGroup(query, [texts[d] for d in order], labels)))
    return pairs if with_qids else [group for _, group in pairs]


def sample_group(
    group: TrainingGroup,
    k: int,
    rng: random.Random,
    *,
    relevant_grade: float = 1.0,
    hard_share: float = 0.5,
    foreign: Sequence[str] = (),
) -> SampledGroup | None:
    """Draw ``k`` passages from ``group`` for one training step.

    With labels: one positive (grade >= ``relevant_grade``, drawn in proportion to grade) first,
    then hard negatives from the top of the list and random others; passages whose label is
    unknown count as negatives (grade 0). With teacher scores only: the teacher's best passage
    first, then the same mix. ``foreign`` passages (relevant to other queries) are appended as
    mismatched negatives (label 0, lowest teacher score), teaching the model that relevance
    depends on the query. Returns None when a labelled group has no positive.
    """
    n = len(group.passages)
    labels = [0.0 if lab is None else float(lab) for lab in group.labels] if group.labels is not None else None
    if labels is not None:
        positives = [i for i in range(n) if labels[i] >= relevant_grade]
        if not positives:
            return None
        first = rng.choices(positives, weights=[labels[i] for i in positives])[0]
    elif group.teacher is not None:
        first = max(range(n), key=lambda i: group.teacher[i])  # type: ignore[index]
    else:
        raise InvalidInputError("a training group needs labels or teacher scores")
    rest = [i for i in range(n) if i != first]
    slots = max(0, k - 1 - len(foreign))
    hard_count = min(len(rest), round(slots * hard_share))
    hard = rest[: max(hard_count * 3, hard_count)]
    chosen = rng.sample(hard, min(hard_count, len(hard)))
    others = [i for i in rest if i not in set(chosen)]
    chosen += rng.sample(others, min(slots - len(chosen), len(others)))
    indices = [first, *chosen]
    passages = [group.passages[i] for i in indices] + list(foreign)
    out_labels = [labels[i] if labels is not None else 0.0 for i in indices] + [0.0] * len(foreign)
    teacher = None
    if group.teacher is not None:
        floor = min(group.teacher)
        teacher = [float(group.teacher[i]) for i in indices] + [floor] * len(foreign)
    return SampledGroup(group.query, passages, out_labels, teacher, labels is not None)
