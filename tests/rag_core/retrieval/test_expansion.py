"""Query expansion: RM3 terms on a tiny corpus, Rocchio, callables, failures falling back."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from rag_core import ConfigurationError, Document
from rag_core.embeddings import load_embedder
from rag_core.retrieval import (
    BM25Retriever,
    CallableExpander,
    HybridRetriever,
    InMemoryVectorStore,
    RM3Expander,
    RocchioExpander,
    build_expander,
)

CORPUS = [
    Document("jaguar cars are fast luxury cars built in england", id="car-1"),
    Document("the jaguar car factory builds luxury cars and engines", id="car-2"),
    Document("jaguar luxury cars come with leather seats and powerful engines", id="car-4"),
    Document(
        "a jaguar is a big cat that lives in the rainforests of south and central america and hunts deer", id="cat-1"
    ),
    Document("bread needs flour water and yeast", id="bread"),
    Document("luxury cars with powerful engines and leather seats", id="car-3"),
]


@pytest.fixture(scope="module")
def store():
    s = InMemoryVectorStore(load_embedder("builtin:all-MiniLM-L6-v2"))
    s.add_documents(CORPUS)
    return s


def test_rm3_weights_by_hand():
    rm3 = RM3Expander(feedback_docs=2, terms=2, original_weight=0.5)
    # query "a"; feedback: doc1 = [a, b, b, c] (score 3), doc2 = [b, d] (score 1)
    weights = rm3.weights(["a"], [(["a", "b", "b", "c"], 3.0), (["b", "d"], 1.0)])
    # RM1: b = .75*.5 + .25*.5 = .5, a = .75*.25 = .1875, c = .1875, d = .125; top 2 (ties by name): b, a
    # normalised over the kept terms: b = .5/.6875, a = .1875/.6875; RM3 = .5 * P(t|Q) + .5 * RM1
    assert weights["a"] == pytest.approx(0.5 + 0.5 * 0.1875 / 0.6875)
    assert weights["b"] == pytest.approx(0.5 * 0.5 / 0.6875)
    assert set(weights) == {"a", "b"}
    assert sum(weights.values()) == pytest.approx(1.0)


def test_rm3_adds_the_feedback_terms_of_a_tiny_corpus(store):
    retriever = HybridRetriever(store, top_k=6, mode="bm25", expander=RM3Expander(feedback_docs=3, terms=4))
    expansion = retriever.expand_sync("jaguar")
    added = expansion.info["added_terms"]
    # the three car passages are BM25's top 3: their shared (stemmed) terms are the expansion
    assert list(added) == ["car", "luxuri", "engin"]
    assert expansion.bm25_terms is not None and expansion.bm25_terms["jaguar"] > max(added.values())
    ids = [d.id for d in retriever.retrieve_sync("jaguar", 6)]
    assert "car-3" in ids  # no "jaguar" in it: found through the expansion terms
    assert "car-3" not in [d.id for d in HybridRetriever(store, top_k=6, mode="bm25").retrieve_sync("jaguar", 6)]


def test_weighted_bm25_equals_plain_bm25_for_unit_weights():
    bm25 = BM25Retriever.from_documents(CORPUS)
    plain = bm25.search("luxury cars", 5)
    weighted = bm25.search_weighted({t: 1.0 for t in bm25.analyzer("luxury cars")}, 5)
    plain_scores = {d.id: s for d, s in plain}
    weighted_scores = {d.id: s for d, s in weighted}
    assert plain_scores.keys() == weighted_scores.keys()
    for doc_id, score in plain_scores.items():
        assert weighted_scores[doc_id] == pytest.approx(score, rel=1e-5)


def test_rocchio_moves_the_query_vector_toward_the_feedback(store):
    expander = RocchioExpander(feedback_docs=2, original_weight=0.5)
    retriever = HybridRetriever(store, top_k=3, mode="vector", expander=expander)
    expansion = retriever.expand_sync("jaguar automobile")
    q = store.embed_query("jaguar automobile")
    centroid = np.mean(store.vectors_of([d for d, _ in store.search_by_vector(q, 2)]), axis=0)
    assert expansion.vector is not None and np.linalg.norm(expansion.vector) == pytest.approx(1.0, abs=1e-5)
    assert float(expansion.vector @ centroid) > float(q @ centroid)


async def test_callable_expander_rewrites_for_both_retrievers_and_the_original_query_is_kept(store):
    async def rewrite(query: str) -> str:  # an LLM stand-in: expands an abbreviation
        return query.replace("jag", "jaguar rainforest cat")

    retriever = HybridRetriever(store, top_k=2, expander=CallableExpander(rewrite, name="abbreviations"))
    docs, expansion = await retriever.retrieve_expanded("jag")
    assert expansion.original == "jag" and expansion.text == "jaguar rainforest cat"
    assert docs[0].id == "cat-1" and expansion.info["expander"] == "abbreviations"


def test_an_expander_that_raises_is_reported_and_the_original_query_is_used(store, caplog):
    def broken(query: str) -> str:
        raise RuntimeError("LLM endpoint down")

    retriever = HybridRetriever(store, top_k=3, expander=CallableExpander(broken, name="llm"))
    with caplog.at_level(logging.WARNING):
        docs, expansion = asyncio.run(retriever.retrieve_expanded("bread flour"))
    assert docs[0].id == "bread"
    assert "LLM endpoint down" in expansion.info["error"] and "original query" in expansion.info["error"]
    assert any("query expansion 'llm' failed" in r.getMessage() for r in caplog.records)
    assert retriever.retrieve_sync("bread flour", 3)[0].id == "bread"
    empty = HybridRetriever(store, top_k=3, expander=CallableExpander(lambda q: "  ", name="blank"))
    assert "not a non-empty string" in empty.expand_sync("bread").info["error"]


def test_settings_names_build_the_expanders():
    assert build_expander("none") is None
    assert isinstance(build_expander("rm3"), RM3Expander)
    assert isinstance(build_expander("rocchio"), RocchioExpander)
    assert build_expander("prf").name == "composite"  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="unknown query expansion"):
        build_expander("magic")
