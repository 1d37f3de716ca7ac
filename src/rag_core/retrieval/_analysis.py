"""Text analysis for BM25: English words (stop words removed, Snowball-stemmed) and CJK text.

Chinese is segmented with ``jieba`` (search mode, so both words and their parts are indexed);
Japanese kana and Korean Hangul runs become overlapping character bigrams. Mixed text works:
each run of a script is analysed by its own rule.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["Analyzer"]

_WORD = re.compile(r"[^\W\d_](?:[^\W_]|')*|\d+(?:[.,]\d+)*", re.UNICODE)
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA_HANGUL = r"\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
_SCRIPT_RUNS = re.compile(f"([{_HAN}]+)|([{_KANA_HANGUL}]+)")


@lru_cache(maxsize=1)
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


class Analyzer:
    """Turns text into index terms; the same analyzer must be used for documents and queries."""

    def __init__(self, language: str = "english", stopwords: Sequence[str] | None = None) -> None:
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self.language = language
        self._stemmer = Stemmer.Stemmer(language) if language else None
        self._stopwords = frozenset(stopwords if stopwords is not None else STOPWORDS_EN)

    def _latin(self, text: str) -> list[str]:
        words = [w.strip("'") for w in _WORD.findall(text.lower())]
        words = [w for w in words if w and w not in self._stopwords and (len(w) > 1 or w.isdigit())]
        if self._stemmer is not None:
            words = self._stemmer.stemWords(words)
        return words

    def __call__(self, text: str) -> list[str]:
        terms: list[str] = []
        last = 0
        for match in _SCRIPT_RUNS.finditer(text):
            terms.extend(self._latin(text[last : match.start()]))
            han, other = match.groups()
            if han:
                jieba = _jieba()
                terms.extend(t for t in jieba.cut_for_search(han) if t.strip())  # type: ignore[attr-defined]
            else:
                terms.extend(_bigrams(other))
            last = match.end()
        terms.extend(self._latin(text[last:]))
        return terms

    def analyze_many(self, texts: Sequence[str]) -> list[list[str]]:
        return [self(t) for t in texts]
