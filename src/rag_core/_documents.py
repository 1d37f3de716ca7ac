"""The :class:`Document` type and the coercion of user inputs into it."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from rag_core._errors import InvalidInputError

__all__ = ["Document", "DocumentLike", "check_text", "content_hash", "to_document", "to_documents"]

TEXT_KEYS: tuple[str, ...] = ("page_content", "text", "content", "passage", "document")


@runtime_checkable
class _LangChainLike(Protocol):
    page_content: str
    metadata: dict[str, Any]


@dataclass(slots=True)
class Document:
    """A passage of text with metadata, an optional id and an optional score.

    The shape matches LangChain's ``Document`` (``page_content`` and ``metadata``), so code
    written against the spec's examples works with either.
    """

    page_content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    score: float | None = None

    def copy_with(self, **changes: Any) -> Document:
        """Return a new document with ``changes`` applied; metadata is deep-copied."""
        new = replace(self, metadata=copy.deepcopy(self.metadata))
        for key, value in changes.items():
            setattr(new, key, value)
        return new

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "page_content": self.page_content, "metadata": self.metadata, "score": self.score}

    @property
    def key(self) -> str:
        """A stable identity: the id when there is one, else a hash of the content."""
        return self.id if self.id is not None else content_hash(self.page_content)


DocumentLike = Document | str | Mapping[str, Any] | _LangChainLike


def content_hash(text: str) -> str:
    """A short, stable hash of ``text`` used where a document has no id."""
    return "sha1:" + hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:20]


def check_text(text: str, where: str) -> str:
    """``text`` if it is valid Unicode; a lone UTF-16 surrogate (legal in JSON and in a Python
    ``str``, but not encodable as UTF-8 and so unusable by tokenizers, hashes and logs) raises
    :class:`InvalidInputError` naming ``where`` and the position."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{where} contains a lone UTF-16 surrogate (U+{ord(text[exc.start]):04X}) at character {exc.start}: "
            "not valid Unicode text"
        ) from None
    return text


def _score_of(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where}: score must be a number, got {value!r}") from exc


def to_document(item: Any, position: int = 0) -> Document:
    """Coerce one input into a fresh :class:`Document` (never the caller's object).

    Accepts a :class:`Document`, a plain string, a mapping with a text field
    (``page_content``, ``text``, ``content``, ``passage`` or ``document``) or any object with
    ``page_content`` and ``metadata`` attributes (a LangChain ``Document``).
    """
    where = f"documents[{position}]"
    if isinstance(item, Document):
        check_text(item.page_content, where)
        return item.copy_with()
    if isinstance(item, str):
        return Document(page_content=check_text(item, where))
    if isinstance(item, Mapping):
        text_key = next((k for k in TEXT_KEYS if k in item), None)
        if text_key is None:
            raise InvalidInputError(f"{where}: a dict needs one of the text fields {list(TEXT_KEYS)}")
        text = item[text_key]
        if not isinstance(text, str):
            raise InvalidInputError(f"{where}: field {text_key!r} must be a string, got {type(text).__name__}")
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise InvalidInputError(f"{where}: 'metadata' must be a mapping")
        extra = {k: v for k, v in item.items() if k not in (text_key, "metadata", "id", "score")}
        raw_id = item.get("id")
        return Document(
            page_content=check_text(text, where),
            metadata=copy.deepcopy({**extra, **dict(metadata)}),
            id=None if raw_id is None else str(raw_id),
            score=_score_of(item.get("score"), where),
        )
    if isinstance(item, _LangChainLike) and isinstance(item.page_content, str):
        raw_id = getattr(item, "id", None)
        metadata = dict(item.metadata or {})
        score = getattr(item, "score", None)
        if score is None:
            score = metadata.get("score")
        return Document(
            page_content=check_text(item.page_content, where),
            metadata=copy.deepcopy(metadata),
            id=None if raw_id is None else str(raw_id),
            score=_score_of(score, where),
        )
    raise InvalidInputError(
        f"{where}: unsupported document type {type(item).__name__}; "
        "pass a str, a dict with a 'text' field, a rag_core.Document or a LangChain Document"
    )


def to_documents(items: Iterable[Any]) -> list[Document]:
    """Coerce a sequence of inputs (see :func:`to_document`)."""
    if isinstance(items, (str, bytes, Mapping)):
        raise InvalidInputError("documents must be a list, not a single string or dict")
    return [to_document(item, i) for i, item in enumerate(items)]
