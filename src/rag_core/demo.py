"""The built-in demo corpus: the Python Language Reference topics that ship with CPython.

CPython carries its reference manual's topics (``pydoc_data.topics``, PSF licence) for
``help()``; split into passages it is a few hundred real, technical passages, so the demo needs
neither network nor data files.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable

from rag_core._documents import Document
from rag_core.retrieval import SearchIndex, split_text

__all__ = ["DEMO_QUERIES", "DEMO_SOURCE", "demo_documents", "ensure_demo_index"]

logger = logging.getLogger(__name__)

DEMO_SOURCE = f"builtin:python-{platform.python_version()}-reference-topics-v2"  # v2: duplicates collapsed
DEMO_QUERIES = (
    "How do I catch an exception and clean up afterwards?",
    "what does the with statement do",
    "how are default argument values evaluated",
    "difference between is and ==",
    "how do generators work with yield",
    "what is a decorator",
    "how does import find modules",
    "what are keyword-only arguments",
)


def demo_documents(max_units: int = 150, overlap: int = 30) -> list[Document]:
    """The demo passages. The reference repeats some text under several topics: a passage is
    kept once, with every topic it appears under in ``metadata["sources"]``."""
    from pydoc_data.topics import topics

    from rag_core.loaders import normalized_key

    docs: list[Document] = []
    by_text: dict[str, Document] = {}
    for topic, text in sorted(topics.items()):
        for n, chunk in enumerate(split_text(text, max_units=max_units, overlap=overlap)):
            where = {"source": f"python-reference/{topic}", "topic": topic, "chunk": n}
            key = normalized_key(chunk)
            if key in by_text:
                by_text[key].metadata["sources"].append(where)
                continue
            doc = Document(chunk, {**where, "sources": [where]}, id=f"python-reference/{topic}#{n}")
            by_text[key] = doc
            docs.append(doc)
    return docs


def ensure_demo_index(index: SearchIndex, progress: Callable[[str, int, int], None] | None = None) -> bool:
    """Index the demo corpus into ``index`` unless it is there already; True when it indexed."""
    if DEMO_SOURCE in index.files:
        return False
    for stale in [src for src in index.files if src.startswith("builtin:python-")]:  # an older demo build
        index.remove(index.files.pop(stale)["ids"])
    docs = demo_documents()
    logger.info("indexing the built-in demo corpus: %d passages of the Python reference", len(docs))
    index.add_documents(docs, progress=progress)
    index.files[DEMO_SOURCE] = {"sha1": DEMO_SOURCE, "ids": [str(d.id) for d in docs], "size": 0, "builtin": True}
    index.save()
    return True
