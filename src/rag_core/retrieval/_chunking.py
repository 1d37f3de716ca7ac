"""Splitting long texts into overlapping passages."""

from __future__ import annotations

import re

__all__ = ["split_text"]

# A unit is one CJK character (those scripts have no spaces) or one word with its trailing space.
_UNITS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|\S+\s*")


def split_text(text: str, *, max_units: int = 200, overlap: int = 40) -> list[str]:
    """Split ``text`` into passages of at most ``max_units`` words (CJK: characters).

    Paragraphs (blank-line separated) are packed together while they fit; a paragraph longer
    than ``max_units`` is cut into windows that overlap by ``overlap`` units, so no sentence is
    only ever seen cut in half.
    """
    if overlap >= max_units:
        raise ValueError("overlap must be smaller than max_units")
    passages: list[str] = []
    current: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        units = _UNITS.findall(paragraph.strip())
        if not units:
            continue
        if len(current) + len(units) <= max_units:
            current.extend(units if not current else ["\n\n", *units])
            continue
        if current:
            passages.append("".join(current).strip())
            current = []
        if len(units) <= max_units:
            current = list(units)
            continue
        step = max_units - overlap
        for start in range(0, len(units), step):
            window = units[start : start + max_units]
            if start > 0 and len(window) <= overlap:
                break
            passages.append("".join(window).strip())
    if current:
        passages.append("".join(current).strip())
    return [p for p in passages if p]
