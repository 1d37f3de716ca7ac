"""Files into passages: PDF, HTML, DOCX, PPTX, XLSX, CSV, EPUB, Markdown and text are read into
structured sections (headings, paragraphs, tables as text, page numbers), then packed into chunks
sized in the reranker's tokens, each with its source, page, heading path and character offsets."""

from __future__ import annotations

from rag_core.loaders._chunking import Chunk, approximate_tokens, chunk_sections, normalized_key
from rag_core.loaders._formats import READERS, Section, UnreadableFileError, read_file, supported_suffixes

__all__ = [
    "READERS",
    "Chunk",
    "Section",
    "UnreadableFileError",
    "approximate_tokens",
    "chunk_sections",
    "normalized_key",
    "read_file",
    "supported_suffixes",
]
