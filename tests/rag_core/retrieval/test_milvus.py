"""The index on Milvus, for real: a ``milvus-lite server`` process on loopback and the embedded
Milvus Lite, incremental ingest, and hybrid queries (BM25 function + vectors, RRF in the engine)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install 'rag-rerank[milvus]')")

from rag_core import Document
from rag_core.embeddings import load_embedder
from rag_core.retrieval import open_search_index
from rag_rerank.service.wiring import open_index
from rag_rerank.settings import AppSettings

pytestmark = pytest.mark.slow

FIRST = {
    "python.md": "Use try and except to catch an exception. The finally clause runs clean-up code either way.\n",
    "bread.md": "Bread is made from flour, water, salt and yeast, then baked in a hot oven.\n",
}
SECOND = {"coffee.md": "Espresso is coffee brewed by forcing hot water through finely ground beans.\n"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("builtin:all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """``milvus-lite server`` on a free loopback port; stopped with SIGINT (its clean shutdown)."""
    binary = shutil.which("milvus-lite") or str(Path(sys.executable).parent / "milvus-lite")
    port = free_port()
    data = tmp_path_factory.mktemp("milvus-data")
    process = subprocess.Popen(
        [binary, "server", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    from pymilvus import MilvusClient

    deadline = time.monotonic() + 60
    while True:
        try:
            MilvusClient(uri=f"http://127.0.0.1:{port}", timeout=2).list_collections()
            break
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("milvus-lite server did not start")
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}"
    process.send_signal(2)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


async def test_server_incremental_ingest_and_hybrid_queries(milvus_server, embedder, tmp_path):
    docs = write(tmp_path / "docs", FIRST)
    index = open_search_index(tmp_path / "unused", embedder, uri=milvus_server, collection="test_ingest")
    report = index.ingest([docs])
    assert (report["added"], report["passages_added"]) == (2, 2) and len(index) == 2
    again = open_search_index(tmp_path / "unused", embedder, uri=milvus_server, collection="test_ingest")
    assert again.ingest([docs])["unchanged"] == 2  # the file record lives in Milvus, seen by a new client
    write(docs, SECOND)
    write(docs, {"bread.md": "Sourdough bread rises with a wild yeast starter instead of baker's yeast.\n"})
    report = again.ingest([docs])
    assert (report["added"], report["changed"], report["unchanged"]) == (1, 1, 1) and len(again) == 3
    retriever = again.retriever(mode="hybrid", top_k=3)
    hits = await retriever.retrieve("how do I catch an exception")
    assert hits[0].metadata["source"].endswith("python.md") and hits[0].metadata["retrieval_ranks"] == {"milvus-rrf": 1}
    assert (await retriever.retrieve("espresso coffee"))[0].metadata["source"].endswith("coffee.md")
    bm25_hits = again.retriever(mode="bm25", top_k=2).retrieve_sync("sourdough starter")
    assert bm25_hits[0].metadata["source"].endswith("bread.md") and "wild yeast" in bm25_hits[0].page_content
    vector_hits = again.retriever(mode="vector", top_k=1).retrieve_sync("a hot drink made from beans")
    assert vector_hits[0].metadata["source"].endswith("coffee.md")
    stored = again.vectors.get_vectors([str(hits[0].id)])
    assert stored[0] is not None and stored[0].shape == (embedder.dimension,)


def test_embedded_milvus_lite_through_the_settings(embedder, tmp_path):
    uri = f"milvus://{tmp_path / 'index.db'}"
    settings = AppSettings(index_uri=uri, index_name="embedded test")
    index = open_index(settings, embedder)
    assert index.describe()["collection"] == "rag_rerank_embedded_test"
    index.add_documents([Document("Paris is the capital of France.", {"lang": "en"}, id="paris")])
    index.save()
    hits = index.retriever(top_k=1).retrieve_sync("capital of france")
    assert hits[0].id == "paris" and hits[0].metadata["lang"] == "en"


def test_a_bad_index_uri_fails_at_start():
    with pytest.raises(ValueError, match="INDEX_URI|index_uri"):
        AppSettings(index_uri="ftp://somewhere")
