"""``rag-rerank drill`` against a live server: every hostile case answered without a 5xx or a hang."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from rag_core.engines import CallableEngine
from rag_core.rerankers import CrossEncoderReranker
from rag_rerank.cli import build_app
from rag_rerank.cli._drill import build_cases
from rag_rerank.service import create_app
from rag_rerank.settings import AppSettings

pytestmark = pytest.mark.slow


class Slowish(CallableEngine):
    def __init__(self) -> None:
        super().__init__(lambda q, p: float(len(set(q.split()) & set(p.split()))))

    def score(self, pairs):
        time.sleep(0.002 * len(pairs))  # ~500 pairs/s: a burst can overload it
        return super().score(pairs)


def test_there_are_more_than_80_cases_and_auth_cases_with_a_key():
    assert len(build_cases({}, None)) >= 80
    names = {c.name for c in build_cases({}, "k")}
    assert {"no API key", "wrong API key"} <= names


def test_drill_against_a_live_server_passes_with_burst_figures(small_index, live_server):
    config = AppSettings(
        reranker_cache_enabled=False,
        index_name="test",
        api_key="drill-key",
        reranker_max_documents=50,
        reranker_max_document_chars=5000,
        max_body_bytes=1_000_000,
        http_body_timeout_s=1.0,
        reranker_timeout_s=2.0,
        reranker_max_queue_tokens=3000,
    )
    reranker = CrossEncoderReranker(engine=Slowish(), microbatch_wait_ms=1, max_queue_tokens=3000)
    server = live_server(create_app(config, reranker=reranker, index=small_index), config)
    result = CliRunner().invoke(
        build_app(),
        [
            "drill",
            "--url",
            server.url,
            "--api-key",
            "drill-key",
            "--burst-clients",
            "16",
            "--burst-documents",
            "20",
            "--burst-seconds",
            "3",
            "--timeout",
            "20",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["cases"] >= 80 and summary["failures"] == []
    assert summary["counts"].get("5xx", 0) == 0 and summary["counts"].get("hang", 0) == 0
    assert summary["counts"]["4xx"] >= 60
    burst = summary["burst"]
    assert burst["ok"] > 0 and burst["refused_503"] > 0 and burst["retry_after_missing"] == 0
    assert burst["ok_over_deadline"] == 0 and not burst["other"]
    assert summary["rss_mb_after"] > 0
    reranker.close()
