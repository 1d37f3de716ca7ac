"""Which languages a model reads, and which writing system a text is in: so that a reranker can
say "this English model does not read Chinese" instead of ranking by noise.

* :func:`model_languages`: from the model card (the ``language:`` field of a Hugging Face
  ``README.md``'s front matter) or the built-in entry; ``None`` when unknown or multilingual.
* :func:`dominant_script`: the script most of a text's letters are in (``Han``, ``Latin``,
  ``Cyrillic``, ...), from Unicode character names; ``None`` for too little text.
* :func:`script_gap`: a warning when the model's languages are known and none of them is written
  in the text's script. Latin-script text is never flagged (the script does not tell English from
  French), so the check has no false alarms on Latin text, only misses.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

__all__ = ["dominant_script", "model_languages", "script_gap"]

#: Unicode name prefixes → script.
_PREFIXES = (
    ("CJK", "Han"),
    ("HIRAGANA", "Kana"),
    ("KATAKANA", "Kana"),
    ("HANGUL", "Hangul"),
    ("LATIN", "Latin"),
    ("CYRILLIC", "Cyrillic"),
    ("GREEK", "Greek"),
    ("ARABIC", "Arabic"),
    ("HEBREW", "Hebrew"),
    ("DEVANAGARI", "Devanagari"),
    ("THAI", "Thai"),
    ("BENGALI", "Bengali"),
    ("TAMIL", "Tamil"),
    ("ARMENIAN", "Armenian"),
    ("GEORGIAN", "Georgian"),
)
#: Languages written in each script (ISO 639-1), for the scripts the check can tell apart.
SCRIPT_LANGUAGES: dict[str, set[str]] = {
    "Han": {"zh", "ja", "yue", "wuu"},
    "Kana": {"ja"},
    "Hangul": {"ko"},
    "Cyrillic": {"ru", "uk", "bg", "sr", "mk", "be", "kk", "ky", "mn", "tg"},
    "Greek": {"el"},
    "Arabic": {"ar", "fa", "ur", "ps", "ug", "ku"},
    "Hebrew": {"he", "yi"},
    "Devanagari": {"hi", "mr", "ne", "sa"},
    "Thai": {"th"},
    "Bengali": {"bn", "as"},
    "Tamil": {"ta"},
    "Armenian": {"hy"},
    "Georgian": {"ka"},
}


@functools.lru_cache(maxsize=4096)
def _script_of(char: str) -> str | None:
    try:
        name = unicodedata.name(char)
    except ValueError:
        return None
    for prefix, script in _PREFIXES:
        if name.startswith(prefix):
            return script
    return None


def dominant_script(text: str, *, sample: int = 400, minimum: int = 2) -> str | None:
    """The script of most letters among the first ``sample`` characters (None under ``minimum``)."""
    counts: dict[str, int] = {}
    for char in text[:sample]:
        if char.isalpha():
            script = _script_of(char)
            if script is not None:
                counts[script] = counts.get(script, 0) + 1
    if not counts or sum(counts.values()) < minimum:
        return None
    script = max(counts, key=counts.__getitem__)
    if script == "Han" and counts.get("Kana", 0) > 0:  # Japanese mixes kanji and kana
        return "Kana"
    return script


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---", re.DOTALL)


def model_languages(folder: Path | None, declared: list[str] | None = None) -> frozenset[str] | None:
    """The languages the model card declares (``declared`` wins: a built-in entry's). None when
    unknown, or when the card says ``multilingual`` (treated as reading everything)."""
    languages = declared
    if languages is None and folder is not None and (folder / "README.md").is_file():
        text = (folder / "README.md").read_text(encoding="utf-8", errors="replace")
        match = _FRONT_MATTER.match(text)
        if match:
            languages = _yaml_list(match.group(1), "language")
    if not languages:
        return None
    found = frozenset(str(x).strip().lower() for x in languages if str(x).strip())
    if not found or "multilingual" in found:
        return None
    return found


def _yaml_list(block: str, key: str) -> list[str] | None:
    """``key: value`` or ``key:\\n  - a\\n  - b`` from a front-matter block (no YAML dependency)."""
    lines = block.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{key}:"):
            value = line.split(":", 1)[1].strip()
            if value:
                return [v.strip(" '\"") for v in value.strip("[]").split(",")]
            items = []
            for follow in lines[i + 1 :]:
                if not follow.startswith((" ", "-", "\t")):
                    break
                item = follow.strip().lstrip("-").strip(" '\"")
                if item:
                    items.append(item)
            return items
    return None


def script_gap(languages: frozenset[str] | None, text: str) -> str | None:
    """The text's script when the model's languages are known and none is written in it."""
    if languages is None:
        return None
    script = dominant_script(text)
    if script is None or script not in SCRIPT_LANGUAGES:
        return None
    return None if SCRIPT_LANGUAGES[script] & languages else script
