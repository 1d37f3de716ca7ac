"""File formats of the IR world, read into plain Python structures.

* topics: ``qid<TAB>text`` per line (TREC / Anserini), or BEIR ``queries.jsonl``
* qrels: ``qid 0 docid grade`` (TREC) or BEIR ``qrels/test.tsv`` (``query-id corpus-id score``)
* runs: TREC run files (``qid Q0 docid rank score tag``) or the JSON runs with passage text of
  ``../shared/data`` (``[{"query", "hits": [{"qid","docid","rank","score","content"}]}]``)
* passages: JSONL (``{"id"|"_id"|"docid", "text"|"contents", "title"?}``) or TSV (``id<TAB>text``;
  the text is the rest of the line, tabs included, or one CSV-quoted field)
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from rag_core._errors import InvalidInputError
from rag_core._jsonl import iter_jsonl

__all__ = [
    "Candidate",
    "Qrels",
    "RankedList",
    "corpus_from_runs",
    "load_beir",
    "read_passages",
    "read_qrels",
    "read_run_json",
    "read_topics",
    "read_trec_run",
    "runs_with_text",
]

Qrels = dict[str, dict[str, int]]


class Candidate(NamedTuple):
    """One retrieved passage of a first-stage run."""

    docid: str
    score: float
    text: str


class RankedList(NamedTuple):
    """A query and its first-stage candidates, best first."""

    qid: str
    query: str
    candidates: list[Candidate]


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line.rstrip("\n")


def read_topics(path: str | Path) -> dict[str, str]:
    """``qid -> query text`` from a TREC topics TSV or a BEIR ``queries.jsonl``."""
    path = Path(path)
    topics: dict[str, str] = {}
    if path.suffix == ".jsonl":
        for _, row in iter_jsonl(path):
            topics[str(row["_id"] if "_id" in row else row["id"])] = str(row["text"])
        return topics
    for number, line in _lines(path):
        qid, sep, text = line.partition("\t")
        if not sep:
            raise InvalidInputError(f"{path}:{number}: expected 'qid<TAB>query'")
        topics[qid.strip()] = text.strip()
    return topics


def read_qrels(path: str | Path) -> Qrels:
    """Graded judgments ``qid -> {docid: grade}`` from TREC qrels or a BEIR qrels TSV."""
    path = Path(path)
    qrels: Qrels = defaultdict(dict)
    for number, line in _lines(path):
        parts = line.split()
        if len(parts) == 4:
            qid, _, docid, grade = parts
        elif len(parts) == 3:
            qid, docid, grade = parts
            if number == 1 and not grade.lstrip("-").isdigit():  # BEIR header
                continue
        else:
            raise InvalidInputError(f"{path}:{number}: expected 'qid 0 docid grade'")
        try:
            qrels[qid][docid] = int(float(grade))
        except ValueError as exc:
            raise InvalidInputError(f"{path}:{number}: grade {grade!r} is not a number") from exc
    return dict(qrels)


def read_run_json(path: str | Path) -> list[RankedList]:
    """A run with passage text (the ``runs/*.json`` format of the shared TREC data)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InvalidInputError(f"{path}: not valid JSON: {exc}") from exc
    lists: list[RankedList] = []
    for entry in data:
        hits = sorted(entry["hits"], key=lambda h: int(h.get("rank", 0)))
        if not hits:
            continue
        lists.append(
            RankedList(
                qid=str(hits[0]["qid"]),
                query=str(entry["query"]),
                candidates=[Candidate(str(h["docid"]), float(h.get("score", 0.0)), str(h["content"])) for h in hits],
            )
        )
    return lists


def read_trec_run(path: str | Path) -> dict[str, list[tuple[str, float]]]:
    """``qid -> [(docid, score), ...]`` best first, from a TREC run file."""
    path = Path(path)
    rows: dict[str, list[tuple[int, str, float]]] = defaultdict(list)
    for number, line in _lines(path):
        parts = line.split()
        if len(parts) < 5:
            raise InvalidInputError(f"{path}:{number}: expected 'qid Q0 docid rank score [tag]'")
        rows[parts[0]].append((int(parts[3]), parts[2], float(parts[4])))
    return {qid: [(d, s) for _, d, s in sorted(items)] for qid, items in rows.items()}


def read_passages(path: str | Path) -> dict[str, str]:
    """``docid -> text`` from JSONL (id/_id/docid + text/contents, optional title) or TSV."""
    path = Path(path)
    passages: dict[str, str] = {}
    if path.suffix in (".jsonl", ".json"):
        for number, row in iter_jsonl(path):
            docid = row.get("_id", row.get("id", row.get("docid")))
            text = row.get("text", row.get("contents", row.get("content")))
            if docid is None or text is None:
                raise InvalidInputError(f"{path}:{number}: needs an id and a text field")
            title = row.get("title")
            passages[str(docid)] = f"{title}. {text}" if title else str(text)
        return passages
    for number, line in _lines(path):
        docid, sep, rest = line.rstrip("\r").partition("\t")
        if not sep:
            raise InvalidInputError(f"{path}:{number}: expected 'id<TAB>text'")
        passages[docid] = _tsv_text(rest)
    return passages


def _tsv_text(rest: str) -> str:
    """The text column of an ``id<TAB>text`` line: everything after the first tab, tabs included
    (text is never cut); a text written as one CSV-quoted field, with ``""`` for a quote, is unquoted."""
    if rest.startswith('"') and rest.endswith('"') and len(rest) >= 2:
        try:
            cells = next(csv.reader([rest], delimiter="\t", quotechar='"', doublequote=True, strict=True))
        except csv.Error:
            return rest
        if len(cells) == 1:
            return cells[0]
    return rest


def runs_with_text(
    run: dict[str, list[tuple[str, float]]], topics: dict[str, str], passages: dict[str, str]
) -> list[RankedList]:
    """Join a TREC run with its topics and passage texts (missing texts are an error)."""
    lists: list[RankedList] = []
    for qid, items in run.items():
        if qid not in topics:
            continue
        missing = [d for d, _ in items if d not in passages]
        if missing:
            raise InvalidInputError(
                f"query {qid}: {len(missing)} passages of the run are not in the passage file (first: {missing[0]})"
            )
        lists.append(RankedList(qid, topics[qid], [Candidate(d, s, passages[d]) for d, s in items]))
    return lists


def corpus_from_runs(paths: Iterable[str | Path]) -> tuple[dict[str, str], dict[str, str]]:
    """The union of JSON runs with text as a small corpus: ``(docid -> text, qid -> query)``
    (the pooled passages of ``../shared/data``'s runs, for end-to-end retrieval and training)."""
    passages: dict[str, str] = {}
    queries: dict[str, str] = {}
    for path in paths:
        for ranked in read_run_json(path):
            queries.setdefault(ranked.qid, ranked.query)
            for cand in ranked.candidates:
                passages.setdefault(cand.docid, cand.text)
    return passages, queries


def load_beir(folder: str | Path, split: str = "test") -> tuple[dict[str, str], dict[str, str], Qrels]:
    """A BEIR-style folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""
    folder = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / name).is_file():
            raise InvalidInputError(f"{folder} is not a BEIR folder: {name} is missing")
    return (
        read_passages(folder / "corpus.jsonl"),
        read_topics(folder / "queries.jsonl"),
        read_qrels(folder / "qrels" / f"{split}.tsv"),
    )
