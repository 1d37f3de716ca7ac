"""The wiring's choices that depend on what is installed: EMBEDDING_MODEL=auto and the demo index."""

from __future__ import annotations

import pytest

from rag_rerank.service import wiring
from rag_rerank.settings import AppSettings


@pytest.mark.parametrize(
    ("installed", "expected"),
    [(True, "builtin:bge-small-en"), (False, "builtin:all-MiniLM-L6-v2")],
)
def test_auto_embedder_follows_the_quality_extra(monkeypatch, installed, expected):
    monkeypatch.setattr(wiring, "_has_quality_models", lambda: installed)
    assert wiring.embedding_model(AppSettings(embedding_model="auto")) == expected
    # an explicit choice is never second-guessed
    assert wiring.embedding_model(AppSettings(embedding_model="some/model")) == "some/model"


def test_the_demo_index_is_kept_per_embedder(tmp_path):
    base = {"rag_rerank_home": tmp_path}
    minilm = wiring.index_folder(AppSettings(**base, embedding_model="builtin:all-MiniLM-L6-v2"))
    bge = wiring.index_folder(AppSettings(**base, embedding_model="builtin:bge-small-en"))
    assert minilm != bge and minilm.parent == bge.parent
    # a named index is the user's own folder, whatever the embedder
    named = AppSettings(**base, index_name="mine", embedding_model="builtin:bge-small-en")
    assert wiring.index_folder(named) == named.index_dir


def test_auto_keeps_the_embedder_an_existing_index_was_built_with(tmp_path, monkeypatch):
    from rag_core import Document
    from rag_core.embeddings import load_embedder
    from rag_core.retrieval import DocumentIndex

    monkeypatch.setattr(wiring, "_has_quality_models", lambda: True)
    settings = AppSettings(rag_rerank_home=tmp_path, index_name="kb", embedding_model="auto")
    # nothing indexed yet: the best embedder installed
    assert wiring.embedding_model(settings) == "builtin:bge-small-en"
    index = DocumentIndex(settings.index_dir, load_embedder("builtin:all-MiniLM-L6-v2"))
    index.add_documents([Document("Paris is the capital of France.", id="d1")])
    index.save()
    # an index built before the extra was installed is still opened, with its own embedder
    assert wiring.embedding_model(settings) == "builtin:all-MiniLM-L6-v2"
    opened = wiring.open_index(settings)
    assert len(opened) == 1 and opened.embedder.model_name == "builtin:all-MiniLM-L6-v2"
