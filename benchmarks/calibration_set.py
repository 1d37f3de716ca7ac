"""Writes ``src/rag_core/engines/calibration.json``: the fixed pairs on which ``auto`` measures
engines (4 demo queries, BM25's 8 best passages each, cut to 30-90 words).

    python benchmarks/calibration_set.py

Run it only to change the set (then bump ``_select.RECIPE``, so that cached decisions are
measured again): shipping the pairs as data keeps the engine layer free of the demo and
retrieval layers, and a decision independent of the running Python's reference topics.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag_core.demo import DEMO_QUERIES, demo_documents
from rag_core.retrieval import BM25Retriever

LENGTHS = [30, 50, 75, 40, 60, 90, 35, 55]
TARGET = Path(__file__).resolve().parents[1] / "src" / "rag_core" / "engines" / "calibration.json"


def main() -> None:
    bm25 = BM25Retriever.from_documents(demo_documents())
    groups = []
    for query in DEMO_QUERIES[:4]:
        hits = bm25.search(query, len(LENGTHS))
        passages = [" ".join(doc.page_content.split()[:n]) for (doc, _), n in zip(hits, LENGTHS, strict=False)]
        groups.append({"query": query, "passages": passages})
    about = (
        "Calibration pairs for the engine choice (rag_core.engines._select): 4 queries of the demo corpus, "
        "each with BM25's 8 best passages of the Python Language Reference topics that ship with CPython "
        "(pydoc_data.topics, PSF licence), cut to 30-90 words. Generated once by benchmarks/calibration_set.py; "
        "fixed, so that a decision does not depend on the Python version."
    )
    TARGET.write_text(json.dumps({"about": about, "groups": groups}, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {TARGET}: {sum(len(g['passages']) for g in groups)} pairs")


if __name__ == "__main__":
    main()
