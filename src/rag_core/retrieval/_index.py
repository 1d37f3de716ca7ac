"""A persistent, incremental document index: documents + BM25 terms + vectors in one folder."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rag_core._documents import Document
from rag_core._errors import InvalidInputError
from rag_core._jsonl import iter_jsonl
from rag_core.embeddings import Embedder
from rag_core.loaders import (
    UnreadableFileError,
    approximate_tokens,
    chunk_sections,
    normalized_key,
    read_file,
    supported_suffixes,
)
from rag_core.retrieval._bm25 import BM25Retriever
from rag_core.retrieval._chunking import split_text
from rag_core.retrieval._expansion import QueryExpander
from rag_core.retrieval._hybrid import HybridRetriever, RetrieverMode
from rag_core.retrieval._vector_store import InMemoryVectorStore, VectorStore

__all__ = ["SUPPORTED_SUFFIXES", "DocumentIndex", "IngestReport", "SearchIndex", "open_search_index"]

TokenCounter = Callable[[str], int]

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = supported_suffixes()
FORMAT_VERSION = 1

Progress = Callable[[str, int, int], None]


class IngestReport(dict[str, Any]):
    """What an ingest did: files added / changed / unchanged / removed / failed, passages added /
    removed / shared (a chunk already indexed from another file is stored once, with both sources),
    and ``errors``: one ``{"file", "reason"}`` per file that could not be read."""


def _sha1(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _jsonl_passages(path: Path, source: str, max_units: int, overlap: int) -> list[Document]:
    """A JSONL file's rows keep their ids (``id#n`` when a long text is split)."""
    docs = []
    for number, row in iter_jsonl(path):
        text = row.get("text", row.get("contents"))
        if not isinstance(text, str):
            raise InvalidInputError(f"{path}:{number}: needs a 'text' string")
        base_id = str(row.get("id", f"{source}:{number}"))
        metadata = {k: v for k, v in row.items() if k not in ("id", "text", "contents")}
        chunks = split_text(text, max_units=max_units, overlap=overlap) or [text]
        for n, chunk in enumerate(chunks):
            doc_id = base_id if len(chunks) == 1 else f"{base_id}#{n}"
            docs.append(Document(chunk, {**metadata, "source": source, "chunk": n}, id=doc_id))
    return docs


def _file_passages(
    path: Path, source: str, chunk_tokens: int, overlap_tokens: int, count: TokenCounter
) -> list[Document]:
    """A document file's chunks, content-addressed: the id is the chunk's normalised text, so a
    chunk that another file (or the same file) already holds is stored once."""
    sections = read_file(path)
    chunks = chunk_sections(sections, max_tokens=chunk_tokens, overlap_tokens=overlap_tokens, count_tokens=count)
    docs: list[Document] = []
    seen: set[str] = set()
    for n, chunk in enumerate(chunks):
        key = normalized_key(chunk.text)
        if not key or key in seen:
            continue
        seen.add(key)
        where = {"source": source, "chunk": n, **chunk.metadata()}
        docs.append(Document(chunk.text, {**where, "sources": [where]}, id=f"c:{key}"))
    return docs


class SearchIndex(ABC):
    """What a persistent, incremental index offers, whatever stores it (the embedded folder of
    :class:`DocumentIndex`, or Milvus: :class:`~rag_core.retrieval.MilvusIndex`).

    Ingesting is incremental: a file whose content hash is unchanged is skipped; a changed file
    has its old passages replaced. ``files`` records each ingested file (source, hash, passage ids).
    """

    embedder: Embedder
    max_units: int = 200
    overlap: int = 40
    #: Chunks of document files, in the reranker's tokens (set ``count_tokens`` to its tokenizer's
    #: count; the default approximates a WordPiece count).
    chunk_tokens: int = 256
    chunk_overlap_tokens: int = 32
    count_tokens: TokenCounter = staticmethod(approximate_tokens)
    files: dict[str, dict[str, Any]]

    @abstractmethod
    def add_documents(self, documents: Sequence[Document], *, progress: Progress | None = None) -> int:
        """Add (or replace, by id) documents; they are embedded in batches."""

    @abstractmethod
    def remove(self, ids: Iterable[str]) -> int:
        """Remove passages by id; returns how many there were."""

    @abstractmethod
    def save(self) -> None:
        """Make what was added durable (and the ``files`` record with it)."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def contains(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` that the index holds."""

    @abstractmethod
    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]:
        """The stored documents among ``ids`` (for merging the sources of a shared chunk)."""

    @abstractmethod
    def update_metadata(self, doc_id: str, metadata: dict[str, Any]) -> None:
        """Replace a stored document's metadata (its text and vector stay)."""

    @abstractmethod
    def retriever(
        self,
        *,
        mode: RetrieverMode = "hybrid",
        top_k: int = 20,
        depth: int = 100,
        rrf_k: int = 60,
        expander: QueryExpander | None = None,
    ) -> HybridRetriever:
        """A retriever over this index."""

    def warm_up(self) -> None:  # noqa: B027 - optional hook
        """Build lazy search structures now, so the first query does not pay for them."""

    @property
    def vectors(self) -> VectorStore | None:
        """The dense vectors as a store (a bi-encoder reranker reuses them), when available."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"backend": type(self).__name__, "passages": len(self)}

    @staticmethod
    def expand(paths: Iterable[str | Path]) -> list[Path]:
        """Files to ingest: the given files, and supported files under given folders."""
        files: list[Path] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                files.extend(
                    sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES and p.is_file())
                )
            elif path.is_file():
                if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                    raise InvalidInputError(f"{path}: unsupported file type (use {', '.join(SUPPORTED_SUFFIXES)})")
                files.append(path)
            else:
                raise InvalidInputError(f"{path}: no such file or folder")
        return files

    def _passages(self, path: Path, source: str) -> list[Document]:
        if path.suffix.lower() == ".jsonl":
            return _jsonl_passages(path, source, self.max_units, self.overlap)
        return _file_passages(path, source, self.chunk_tokens, self.chunk_overlap_tokens, self.count_tokens)

    def _drop_source(self, source: str, ids: Sequence[str]) -> int:
        """Take ``source``'s passages out: a passage other files share loses this source only."""
        stored = self.get_documents(list(ids))
        gone = []
        for doc_id in ids:
            doc = stored.get(doc_id)
            if doc is None:
                continue
            others = [w for w in doc.metadata.get("sources", []) if w.get("source") != source]
            if others:
                self.update_metadata(doc_id, {**doc.metadata, **others[0], "sources": others})
            else:
                gone.append(doc_id)
        return self.remove(gone)

    def _share(self, docs: list[Document]) -> tuple[list[Document], int]:
        """Documents to add; chunks the index already holds get this file as one more source."""
        content = [d for d in docs if str(d.id).startswith("c:")]
        stored = self.get_documents([str(d.id) for d in content]) if content else {}
        fresh: list[Document] = []
        shared = 0
        for doc in docs:
            existing = stored.get(str(doc.id))
            if existing is None:
                fresh.append(doc)
                continue
            sources = [w for w in existing.metadata.get("sources", []) if w.get("source") != doc.metadata["source"]]
            self.update_metadata(str(doc.id), {**existing.metadata, "sources": [*sources, *doc.metadata["sources"]]})
            shared += 1
        return fresh, shared

    def ingest(
        self, paths: Iterable[str | Path], *, progress: Progress | None = None, prune: bool = True
    ) -> IngestReport:
        """Index files (PDF, HTML, DOCX, PPTX, XLSX, CSV, EPUB, Markdown, text, JSONL) incrementally,
        then save. An unchanged file is skipped; a changed file's passages are replaced; with
        ``prune``, files indexed before from a given folder that are gone now lose their passages.
        A file that cannot be read (encrypted, corrupt, empty, too large) is reported in
        ``errors`` by name with the reason, and the rest go on; what was indexed stays."""
        report = IngestReport(
            added=0, changed=0, unchanged=0, removed=0, failed=0, passages_added=0, passages_removed=0,
            passages_shared=0, errors=[],
        )  # fmt: skip
        roots = [Path(p).resolve() for p in paths]
        files = self.expand(roots)
        if prune:
            present = {str(f.resolve()) for f in files}
            folders = [r for r in roots if r.is_dir()]
            for source in sorted(self.files):
                inside = any(Path(source).is_relative_to(folder) for folder in folders)
                if inside and source not in present and not self.files[source].get("builtin"):
                    report["passages_removed"] += self._drop_source(source, self.files.pop(source)["ids"])
                    report["removed"] += 1
        pending: list[Document] = []
        for number, path in enumerate(files, start=1):
            source = str(path.resolve())
            try:
                digest = _sha1(path)
                known = self.files.get(source)
                if known is not None and known["sha1"] == digest:
                    report["unchanged"] += 1
                    continue
                passages = self._passages(path, source)
            except (UnreadableFileError, InvalidInputError, OSError) as exc:
                reason = exc.reason if isinstance(exc, UnreadableFileError) else str(exc)
                report["errors"].append({"file": source, "reason": reason})
                report["failed"] += 1
                logger.warning("skipped %s: %s", source, reason)
                continue
            finally:
                if progress:
                    progress("reading", number, len(files))
            if known is not None:  # replaced only once the new version was read: nothing is lost on failure
                report["passages_removed"] += self._drop_source(source, known["ids"])
                report["changed"] += 1
            else:
                report["added"] += 1
            fresh, shared = self._share(passages)
            report["passages_shared"] += shared
            self.files[source] = {"sha1": digest, "ids": [str(d.id) for d in passages], "size": path.stat().st_size}
            pending.extend(fresh)
        report["passages_added"] = self.add_documents(pending, progress=progress)
        if report["added"] or report["changed"] or report["removed"] or report["passages_shared"]:
            self.save()
        logger.info("ingest %s: %s", self, {k: v for k, v in report.items() if k != "errors"})
        return report


class DocumentIndex(SearchIndex):
    """Documents, their BM25 terms and their embeddings, saved together in ``folder`` (the
    embedded default). ``retriever()`` gives a :class:`HybridRetriever` over it."""

    def __init__(self, folder: str | Path, embedder: Embedder, *, max_units: int = 200, overlap: int = 40) -> None:
        self.folder = Path(folder)
        self.embedder = embedder
        self.max_units = max_units
        self.overlap = overlap
        self.bm25 = BM25Retriever()
        self.store = InMemoryVectorStore(embedder)
        self.files: dict[str, dict[str, Any]] = {}
        self.documents: dict[str, Document] = {}

    # -- persistence ----------------------------------------------------------------------------
    @staticmethod
    def embedder_of(folder: str | Path) -> str | None:
        """The embedder the index in ``folder`` was built with (``None`` where it holds none yet)."""
        manifest = Path(folder) / "manifest.json"
        if not manifest.is_file():
            return None
        name = json.loads(manifest.read_text(encoding="utf-8")).get("embedding_model")
        return str(name) if name else None

    @classmethod
    def open(cls, folder: str | Path, embedder: Embedder, **kwargs: int) -> DocumentIndex:
        """Open the index in ``folder`` (an empty index when the folder holds none)."""
        index = cls(folder, embedder, **kwargs)
        manifest = index.folder / "manifest.json"
        if not manifest.is_file():
            return index
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        if meta.get("embedding_model") != embedder.model_name:
            raise InvalidInputError(
                f"index {index.folder} was built with {meta.get('embedding_model')}, not {embedder.model_name}; "
                "use the same EMBEDDING_MODEL or re-index into a new folder"
            )
        index.files = meta.get("files", {})
        with (index.folder / "documents.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                index.documents[row["id"]] = Document(row["text"], row.get("metadata", {}), id=row["id"])
        index.bm25.load_terms(index.folder, index.documents)
        index.store.load(index.folder, index.documents)
        missing = [d for i, d in index.documents.items() if i not in set(index.store._position)]
        if missing:
            index.store.add_documents(missing)
        logger.info("opened index %s: %d passages from %d files", index.folder, len(index.documents), len(index.files))
        return index

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "documents.jsonl.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            for doc in self.documents.values():
                handle.write(
                    json.dumps({"id": doc.id, "text": doc.page_content, "metadata": doc.metadata}, ensure_ascii=False)
                    + "\n"
                )
        tmp.replace(self.folder / "documents.jsonl")
        self.bm25.save(self.folder)
        self.store.save(self.folder)
        manifest = {
            "version": FORMAT_VERSION,
            "embedding_model": self.embedder.model_name,
            "dimension": self.embedder.dimension,
            "saved": time.time(),
            "files": self.files,
            "passages": len(self.documents),
        }
        (self.folder / "manifest.json.tmp").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        (self.folder / "manifest.json.tmp").replace(self.folder / "manifest.json")

    def __len__(self) -> int:
        return len(self.documents)

    # -- ingest ---------------------------------------------------------------------------------
    def add_documents(self, documents: Sequence[Document], *, progress: Progress | None = None) -> int:
        """Add (or replace, by id) documents; they are embedded in batches."""
        if not documents:
            return 0
        if any(d.id is None for d in documents):
            raise InvalidInputError("indexed documents need ids")
        batch = 256
        for start in range(0, len(documents), batch):
            chunk = documents[start : start + batch]
            self.store.add_documents(chunk)
            if progress:
                progress("embedding", min(start + batch, len(documents)), len(documents))
        self.bm25.add(documents)
        for doc in documents:
            self.documents[str(doc.id)] = doc
        return len(documents)

    def remove(self, ids: Iterable[str]) -> int:
        ids = [i for i in ids if i in self.documents]
        self.store.delete(ids)
        self.bm25.delete(ids)
        for i in ids:
            del self.documents[i]
        return len(ids)

    def contains(self, ids: Sequence[str]) -> set[str]:
        return {i for i in ids if i in self.documents}

    def get_documents(self, ids: Sequence[str]) -> dict[str, Document]:
        return {i: self.documents[i] for i in ids if i in self.documents}

    def update_metadata(self, doc_id: str, metadata: dict[str, Any]) -> None:
        # the BM25 index and the vector store hold this same object: one assignment updates all
        self.documents[doc_id].metadata = metadata

    def warm_up(self) -> None:
        self.bm25.search("warm up", 1)

    @property
    def vectors(self) -> InMemoryVectorStore:
        return self.store

    def describe(self) -> dict[str, Any]:
        return {"backend": "embedded", "folder": str(self.folder), "passages": len(self)}

    def __str__(self) -> str:
        return str(self.folder)

    def retriever(
        self,
        *,
        mode: RetrieverMode = "hybrid",
        top_k: int = 20,
        depth: int = 100,
        rrf_k: int = 60,
        expander: QueryExpander | None = None,
    ) -> HybridRetriever:
        return HybridRetriever(
            self.store, top_k=top_k, bm25=self.bm25, mode=mode, depth=depth, rrf_k=rrf_k, expander=expander
        )


def open_search_index(
    folder: str | Path,
    embedder: Embedder,
    *,
    uri: str | None = None,
    collection: str = "rag_rerank",
    token: str | None = None,
) -> SearchIndex:
    """The index an ``INDEX_URI`` names: empty → the embedded :class:`DocumentIndex` in ``folder``;
    ``milvus:///path`` or ``http(s)://host:port`` → a :class:`~rag_core.retrieval.MilvusIndex`."""
    if uri:
        from rag_core.retrieval._milvus import MilvusIndex

        return MilvusIndex.open(uri, embedder, collection=collection, token=token)
    return DocumentIndex.open(folder, embedder)
