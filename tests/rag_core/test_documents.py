from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from rag_core import Document, InvalidInputError, to_document, to_documents


@dataclass
class FakeLangChainDocument:
    page_content: str
    metadata: dict = field(default_factory=dict)
    id: str | None = None


def test_strings_dicts_and_langchain_documents_are_coerced():
    docs = to_documents(
        [
            "plain text",
            {"text": "from a dict", "id": 7, "score": "0.5", "source": "s"},
            FakeLangChainDocument("from langchain", {"source": "lc"}, id="lc-1"),
            Document("ours", {"k": 1}, id="d", score=0.25),
        ]
    )
    assert [d.page_content for d in docs] == ["plain text", "from a dict", "from langchain", "ours"]
    assert docs[1].id == "7" and docs[1].score == 0.5 and docs[1].metadata == {"source": "s"}
    assert docs[2].id == "lc-1" and docs[2].metadata == {"source": "lc"}
    assert docs[3].score == 0.25


def test_coercion_copies_so_the_caller_objects_never_change():
    original = Document("text", {"nested": {"a": 1}}, id="x")
    copy = to_document(original)
    copy.metadata["nested"]["a"] = 2
    copy.score = 9.0
    assert original.metadata == {"nested": {"a": 1}} and original.score is None


@pytest.mark.parametrize("bad", [42, {"title": "no text field"}, {"text": 3}, None])
def test_unsupported_items_raise_a_typed_error(bad):
    with pytest.raises(InvalidInputError, match=r"documents\[0\]"):
        to_documents([bad])


def test_a_single_string_is_not_a_document_list():
    with pytest.raises(InvalidInputError):
        to_documents("not a list")


def test_key_is_the_id_or_a_stable_content_hash():
    assert Document("a", id="1").key == "1"
    assert Document("same").key == Document("same").key != Document("other").key
