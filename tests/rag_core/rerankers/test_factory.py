from __future__ import annotations

import logging

import pytest

from rag_core import ConfigurationError, ModelLoadError
from rag_core.rerankers import (
    BiEncoderReranker,
    CrossEncoderReranker,
    RerankerFactory,
    get_reranker_class,
    known_types,
)
from rag_rerank.settings import AppSettings


def test_registry_knows_the_types_and_lists_them_in_errors():
    assert {"cross_encoder", "bi_encoder"} <= set(known_types())
    assert get_reranker_class("cross_encoder") is CrossEncoderReranker
    with pytest.raises(ConfigurationError, match="known types: .*cross_encoder"):
        get_reranker_class("colbert_v9")


async def test_create_with_the_spec_config_keys(tiny_model_dir):
    reranker = await RerankerFactory.create(
        "cross_encoder", {"model": str(tiny_model_dir), "top_n": 2, "backend": "torch"}
    )
    assert isinstance(reranker, CrossEncoderReranker)
    assert reranker.top_n == 2 and reranker.model_name == str(tiny_model_dir)
    result = await reranker.rerank("q", ["a", "b", "c"])
    assert len(result) == 2
    reranker.close()


def test_unknown_options_are_reported_with_the_valid_ones(tiny_model_dir):
    with pytest.raises(ConfigurationError, match="unknown option.*colour.*valid options"):
        RerankerFactory.create_sync("cross_encoder", {"model": str(tiny_model_dir), "colour": "blue"})


async def test_disabled_settings_give_none(tiny_model_dir):
    settings = AppSettings(reranker_enabled=False, reranker_model=str(tiny_model_dir))
    assert await RerankerFactory.create_from_settings(settings) is None


async def test_settings_build_the_configured_reranker(tiny_model_dir):
    settings = AppSettings(
        reranker_model=str(tiny_model_dir), reranker_top_n=3, reranker_backend="torch", reranker_batch_size=4
    )
    reranker = await RerankerFactory.create_from_settings(settings)
    assert isinstance(reranker, CrossEncoderReranker)
    assert reranker.top_n == 3 and reranker.engine.batch_size == 4
    assert reranker.fallback_from is None
    reranker.close()


def test_unloadable_model_raises_a_typed_error_with_remedies(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L-6-v2", backend="torch")
    message = str(info.value)
    assert "cross-encoder/ms-marco-MiniLM-L-6-v2" in message
    for remedy in ("HF_ENDPOINT", "HF_HUB_OFFLINE", "local folder"):
        assert remedy in message


def test_missing_local_folder_is_a_typed_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no such folder"):
        CrossEncoderReranker(str(tmp_path / "does-not-exist"), backend="torch")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        CrossEncoderReranker(str(tmp_path / "empty"), backend="torch")


def test_fallback_is_loud_and_recorded(monkeypatch, caplog, tiny_model_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = AppSettings(
        reranker_model="cross-encoder/ms-marco-MiniLM-L-6-v2",
        reranker_fallback_model=str(tiny_model_dir),
        reranker_backend="torch",
    )
    with caplog.at_level(logging.WARNING):
        reranker = RerankerFactory.create_from_settings_sync(settings)
    assert reranker is not None and reranker.model_name == str(tiny_model_dir)
    assert reranker.fallback_from == "cross-encoder/ms-marco-MiniLM-L-6-v2"
    assert reranker.describe()["fallback_from"] == "cross-encoder/ms-marco-MiniLM-L-6-v2"
    assert any("RERANKER FALLBACK" in r.getMessage() for r in caplog.records)
    reranker.close()


def test_empty_fallback_means_fail(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = AppSettings(reranker_model="cross-encoder/ms-marco-MiniLM-L-6-v2", reranker_fallback_model="")
    with pytest.raises(ModelLoadError):
        RerankerFactory.create_from_settings_sync(settings)


def test_builtin_offline_default_switches_type_when_needed(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = AppSettings(reranker_model="cross-encoder/ms-marco-MiniLM-L-6-v2")
    reranker = RerankerFactory.create_from_settings_sync(settings)
    assert reranker is not None and reranker.fallback_from is not None
    from rag_core.models import builtin_models

    assert reranker.name == builtin_models()["offline-default"].reranker_type
    result = reranker.rerank_sync(
        "how do plants make food",
        [
            "Photosynthesis lets plants turn light, water and CO2 into sugar.",
            "The stock market fell on Monday.",
        ],
    )
    assert result[0].page_content.startswith("Photosynthesis")
    reranker.close()


def test_bi_encoder_reranker_ranks_by_meaning():
    reranker = BiEncoderReranker(top_n=2)
    result = reranker.rerank_sync(
        "animal that barks", ["A dog is a loyal pet that barks.", "Tax law in 1990.", "Stars are made of plasma."]
    )
    assert result[0].page_content.startswith("A dog")
    assert 0.0 <= result[1].score <= result[0].score <= 1.0
    assert result[0].metadata["rerank_raw_score"] == pytest.approx(2 * result[0].score - 1)


async def test_bi_encoder_async_path_batches_unknown_passages_and_equals_the_sync_scores():
    texts = ["A dog is a loyal pet that barks.", "Tax law in 1990.", "Stars are made of plasma."]
    reranker = BiEncoderReranker(top_n=3, vector_cache_size=0)
    expected = reranker.score("animal that barks", texts)
    calls = reranker._batcher.engine_calls
    result = await reranker.rerank("animal that barks", texts, timeout_s=30)
    assert reranker._batcher.engine_calls == calls + 1  # the passages went through the micro-batcher
    got = {d.page_content: d.score for d in result}
    assert [got[t] for t in texts] == pytest.approx(expected.tolist(), abs=1e-6)
    # a cached passage is not embedded again: only the new one reaches the batcher
    cached = BiEncoderReranker(top_n=3)
    await cached.rerank("animal that barks", texts[:2])
    before = cached._batcher.stats()
    await cached.rerank("animal that barks", texts)
    assert cached.cached_vectors == 2 and cached._batcher.stats()["requests"] == before["requests"] + 1
    reranker.close()
    cached.close()


@pytest.mark.parametrize("value", ["", "none", "None", "off"])
def test_an_empty_or_none_fallback_from_the_environment_really_disables_it(monkeypatch, tmp_path, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("RERANKER_MODEL", "cross-encoder/ms-marco-MiniLM-L-6-v2")
    monkeypatch.setenv("RERANKER_FALLBACK_MODEL", value)
    settings = AppSettings()
    assert settings.reranker_fallback_model is None
    with pytest.raises(ModelLoadError):
        RerankerFactory.create_from_settings_sync(settings)


def test_remedies_fit_the_kind_of_model_name(tmp_path):
    with pytest.raises(ModelLoadError) as local:
        CrossEncoderReranker(str(tmp_path / "models" / "mine"), backend="torch")
    assert "git clone" not in str(local.value) and "Check the path" in str(local.value)
    with pytest.raises(ModelLoadError) as builtin:
        CrossEncoderReranker("builtin:no-such-model", backend="torch")
    assert "git clone" not in str(builtin.value) and "rag-rerank models" in str(builtin.value)


def test_bi_encoder_embeds_a_passage_once_per_run():
    from rag_core.rerankers import BiEncoderReranker

    reranker = BiEncoderReranker(vector_cache_size=10)
    texts = ["Paris is in France.", "Bread rises with yeast.", "Cats purr."]
    first = reranker.score("capital of france", texts)
    before = reranker.cached_vectors
    again = reranker.score("what makes bread rise", texts)
    assert reranker.cached_vectors - before == 3  # every passage came from the cache
    assert first.argmax() == 0 and again.argmax() == 1
