"""The playground and the docs in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag_rerank.service import create_app
from rag_rerank.settings import AppSettings

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/ensure-chromium.sh)"),
]

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    page.problems = problems  # type: ignore[attr-defined]
    yield page
    page.close()


def settings(**overrides) -> AppSettings:
    base = {"reranker_cache_enabled": False, "api_key": None, "index_name": "test"}
    return AppSettings(**{**base, **overrides})


@pytest.fixture
def server(small_index, bi_reranker, live_server):
    config = settings()
    return live_server(create_app(config, reranker=bi_reranker, index=small_index), config)


def test_search_fills_both_columns_with_moves_and_highlights(server, page, tmp_path):
    page.goto(server.url + "/")
    assert "rag-rerank playground" in page.title()
    page.wait_for_function("document.getElementById('status-reranker').textContent.includes('all-MiniLM')")
    page.fill("#query", "what is the capital of the united states")
    page.fill("#top-k", "8")
    page.fill("#top-n", "3")
    page.click("#search-button")
    page.wait_for_selector("#reranked-list li")
    assert page.locator("#retrieval-list li").count() == 8
    assert page.locator("#reranked-list li").count() == 3
    top = page.locator("#reranked-list li").first.inner_text()
    assert "Washington" in top
    moves = page.locator("#reranked-list .move").all_inner_texts()
    assert any(m.startswith(("↑", "↓", "new", "=")) for m in moves)
    assert page.locator("#retrieval-list mark").count() > 0  # query terms highlighted
    assert "BM25 #" in page.locator("#retrieval-list li").first.inner_text()
    summary = page.locator("#search-summary").inner_text()
    assert "rerank status ok" in summary and "per document" in summary
    page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
    assert page.problems == []  # type: ignore[attr-defined]


def test_rerank_pasted_passages(server, page):
    page.goto(server.url + "/")
    page.click("#tab-paste")
    page.fill("#paste-query", "how do plants make energy")
    page.fill(
        "#paste-passages",
        "Bread is made from flour, water and yeast.\nPhotosynthesis turns light into chemical energy in plants.\n"
        "Paris is the capital of France.",
    )
    page.click("#paste-button")
    page.wait_for_selector("#paste-list li")
    items = page.locator("#paste-list li")
    assert items.count() == 3
    assert "Photosynthesis" in items.first.inner_text() and "↑1" in items.first.inner_text()
    assert "tokens" in page.locator("#paste-summary").inner_text()
    assert page.problems == []  # type: ignore[attr-defined]


def test_errors_are_readable_messages(server, page, small_index, bi_reranker, live_server):
    page.goto(server.url + "/")
    page.click("#search-button")  # empty query
    assert "query must not be empty" in page.locator("#error").inner_text()
    config = settings(api_key="s3cret")
    locked = live_server(create_app(config, reranker=bi_reranker, index=small_index), config)
    page.goto(locked.url + "/")
    page.fill("#query", "bread")
    page.click("#search-button")
    page.wait_for_function("!document.getElementById('error').hidden")
    assert "HTTP 401" in page.locator("#error").inner_text()
    page.fill("#api-key", "s3cret")
    page.click("#search-button")
    page.wait_for_selector("#reranked-list li")
    assert page.locator("#error").is_hidden()


def test_docs_render_offline_with_every_endpoint(server, page):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    for path in ("/query", "/v1/rerank", "/v2/rerank", "/rerank"):
        assert path in paths
    assert all(url.startswith(server.url) for url in requests), [u for u in requests if not u.startswith(server.url)]
    page.goto(server.url + "/redoc")
    page.wait_for_selector("h2")
    assert page.locator("text=Retrieve candidates, then rerank them").count() > 0


def test_results_of_a_mixed_folder_link_to_their_file_and_page(tmp_path, bi_reranker, live_server, page):
    """Index a folder of mixed files (PDF, DOCX, Markdown), search in the playground: each result
    shows its file, page and heading, and the link serves the file at that page."""
    pytest.importorskip("pypdf", reason="the documents extra is not installed")
    import httpx

    from document_files import make_docx, make_pdf
    from rag_core.embeddings import load_embedder
    from rag_core.retrieval import DocumentIndex

    folder = tmp_path / "docs"
    folder.mkdir()
    make_pdf(folder / "pump.pdf")
    make_docx(folder / "policy.docx")
    (folder / "notes.md").write_text("# Seals\n\nA worn seal leaks oil; replace it before the pump runs dry.")
    index = DocumentIndex.open(tmp_path / "index", load_embedder("builtin:all-MiniLM-L6-v2"))
    assert index.ingest([folder])["added"] == 3
    config = settings()
    server = live_server(create_app(config, reranker=bi_reranker, index=index), config)
    page.goto(server.url + "/")
    page.fill("#query", "how often should the pump seal be replaced")
    page.fill("#top-k", "6")
    page.fill("#top-n", "3")
    page.click("#search-button")
    page.wait_for_selector("#reranked-list li .origin")
    origins = page.locator("#reranked-list .origin").all_inner_texts()
    assert any("pump.pdf, page 2" in o and "Maintenance" in o for o in origins), origins
    link = page.locator("#reranked-list a.source-link", has_text="pump.pdf").first
    href = link.get_attribute("href")
    assert href.startswith("/source?path=") and href.endswith("#page=2")
    served = httpx.get(server.url + href.split("#")[0], timeout=10)
    assert served.status_code == 200 and served.content[:5] == b"%PDF-"
    assert httpx.get(server.url + "/source", params={"path": "/etc/passwd"}, timeout=10).status_code == 404
    assert not page.problems  # type: ignore[attr-defined]
