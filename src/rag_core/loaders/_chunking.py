"""Chunks sized for the reranker: sections packed into chunks of at most ``max_tokens`` of the
reranker's own tokens (a ``count_tokens`` callable, so this layer needs no model), split on
headings first, then paragraphs, then sentences, then words, with ``overlap_tokens`` carried
into the next chunk of the same part of the file.

Every chunk knows where it came from: its page (and the pages it spans), its heading path and the
character offsets of its text in the file's extracted text (the sections joined by blank lines).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_core.loaders._formats import Section

__all__ = ["Chunk", "approximate_tokens", "chunk_sections", "normalized_key"]

TokenCounter = Callable[[str], int]

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


def approximate_tokens(text: str) -> int:
    """A model-free stand-in for a WordPiece count: words × 1.3, CJK characters × 1."""
    cjk = len(_CJK.findall(text))
    words = len(_CJK.sub(" ", text).split())
    return cjk + int(words * 1.3 + 0.5)


@dataclass
class Chunk:
    """A passage ready to index, with where it came from."""

    text: str
    page: int | None = None
    pages: tuple[int, ...] = ()
    headings: tuple[str, ...] = ()
    start: int = 0
    end: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {"char_start": self.start, "char_end": self.end}
        if self.page is not None:
            out["page"] = self.page
            if len(self.pages) > 1:
                out["pages"] = list(self.pages)
        if self.headings:
            out["heading_path"] = list(self.headings)
            out["heading"] = " › ".join(self.headings)
        return out


def _pieces(text: str, count: TokenCounter, limit: int) -> list[str]:
    """``text`` cut at sentence, then word boundaries into pieces of at most ``limit`` tokens."""
    if count(text) <= limit:
        return [text]
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    if len(sentences) > 1:
        return [p for s in sentences for p in _pieces(s.strip(), count, limit)]
    units = re.findall(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|\S+", text)
    pieces: list[str] = []
    current: list[str] = []
    for unit in units:
        trial = _join([*current, unit])
        if current and count(trial) > limit:
            pieces.append(_join(current))
            current = [unit]
        else:
            current.append(unit)
    if current:
        pieces.append(_join(current))
    return pieces


def _join(units: Sequence[str]) -> str:
    out = ""
    for unit in units:
        glue = "" if (not out or _CJK.fullmatch(unit[:1] or " ") or _CJK.fullmatch(out[-1:])) else " "
        out += glue + unit
    return out


def chunk_sections(
    sections: Sequence[Section],
    *,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
    count_tokens: TokenCounter = approximate_tokens,
) -> list[Chunk]:
    """Pack ``sections`` into chunks (see the module docstring)."""
    if max_tokens < 8:
        raise ValueError("max_tokens must be >= 8")
    overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
    # offsets of every section in the extracted text (sections joined by a blank line)
    offsets = []
    cursor = 0
    for section in sections:
        offsets.append(cursor)
        cursor += len(section.text) + 2
    chunks: list[Chunk] = []
    parts: list[tuple[str, int, int, int | None]] = []  # text, start, end, page
    budget = 0
    headings: tuple[str, ...] = ()

    def flush(carry: bool) -> None:
        nonlocal parts, budget
        if not parts:
            return
        text = "\n\n".join(p[0] for p in parts)
        pages = tuple(sorted({p[3] for p in parts if p[3] is not None}))
        chunks.append(Chunk(text, pages[0] if pages else None, pages, headings, parts[0][1], parts[-1][2]))
        kept: list[tuple[str, int, int, int | None]] = []
        if carry and overlap_tokens:
            tail = parts[-1]
            words = tail[0].split()
            taken: list[str] = []
            while words and count_tokens(" ".join([words[-1], *taken])) <= overlap_tokens:
                taken.insert(0, words.pop())
            if taken:
                text_tail = " ".join(taken)
                kept = [(text_tail, tail[2] - len(text_tail), tail[2], tail[3])]
        parts = kept
        budget = sum(count_tokens(p[0]) for p in parts)

    for section, start in zip(sections, offsets, strict=True):
        if section.kind == "heading":
            flush(carry=False)  # a heading starts a new chunk: chunks never straddle sections
            headings = section.headings
            continue
        if section.headings != headings:
            flush(carry=False)
            headings = section.headings
        position = start
        for piece in _pieces(section.text, count_tokens, max_tokens - overlap_tokens):
            found = section.text.find(piece[:20], position - start)
            piece_start = start + (found if found >= 0 else position - start)
            cost = count_tokens(piece)
            if parts and budget + cost > max_tokens:
                flush(carry=True)
            parts.append((piece, piece_start, piece_start + len(piece), section.page))
            budget += cost
            position = piece_start + len(piece)
    flush(carry=False)
    return chunks


def normalized_key(text: str) -> str:
    """The identity of a chunk's text for duplicate detection: case, spacing and punctuation
    folded, so copies that differ only in those collapse into one."""
    import hashlib
    import unicodedata

    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub(r"[\W_]+", " ", folded).strip()
    return hashlib.sha1(folded.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:24]
