from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag_rerank.settings import AppSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(AppSettings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    return tmp_path


def test_defaults_match_the_spec(clean_env):
    s = AppSettings()
    assert s.reranker_enabled is True
    assert s.reranker_type == "cross_encoder"
    assert s.reranker_model == "cross-encoder/ms-marco-MiniLM-L-6-v2"
    assert (s.reranker_top_n, s.reranker_batch_size, s.vector_top_k) == (5, 32, 20)
    assert s.retriever_type == "hybrid"


def test_reads_environment_and_dotenv(clean_env, monkeypatch):
    (clean_env / ".env").write_text("RERANKER_TOP_N=3\nRERANKER_ENABLED=false\nVECTOR_TOP_K=50\n")
    monkeypatch.setenv("RERANKER_BATCH_SIZE", "8")
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")
    s = AppSettings()
    assert (s.reranker_top_n, s.reranker_enabled, s.vector_top_k, s.reranker_batch_size) == (3, False, 50, 8)
    assert s.reranker_cache_url == "redis://localhost:6379/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RERANKER_TOP_N", "0"),
        ("RERANKER_BATCH_SIZE", "-4"),
        ("VECTOR_TOP_K", "0"),
        ("RETRIEVER_TYPE", "magic"),
        ("RERANKER_BACKEND", "tpu"),
        ("RERANKER_AB_RATIO", "1.5"),
        ("RERANKER_TYPE", "nope"),
    ],
)
def test_invalid_values_fail_at_start_naming_the_setting(clean_env, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        AppSettings()
    assert name.lower() in str(info.value).lower()


def test_env_example_lists_every_setting_with_its_default(clean_env):
    text = (ROOT / ".env.example").read_text()
    entries = dict(re.findall(r"^([A-Z_]+)=(.*)$", text, flags=re.M))
    defaults = AppSettings()
    for name in AppSettings.model_fields:
        assert name.upper() in entries, f"{name.upper()} missing from .env.example"
        value = getattr(defaults, name)
        shown = entries[name.upper()]
        if value is None:
            assert shown == ""
        elif isinstance(value, bool):
            assert shown == str(value).lower()
        elif isinstance(value, (int, float, str, Path)):
            assert type(value)(shown) == value if not isinstance(value, Path) else Path(shown) == value
        # every line has a comment above it
        assert re.search(rf"^# .+\n{name.upper()}=", text, flags=re.M) or name.upper() == "PORT", name


def test_an_empty_value_means_the_default_or_none(clean_env, monkeypatch):
    (clean_env / ".env").write_text("RERANKER_TOP_N=\nRERANKER_MAX_LENGTH=\nAPI_KEY=\nRERANKER_TIMEOUT_S=\n")
    s = AppSettings()
    assert (s.reranker_top_n, s.reranker_max_length, s.api_key, s.reranker_timeout_s) == (5, None, None, 15.0)
