"""Service fixtures: a real Redis server, a real index, real rerankers, real HTTP."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_core import Document
from rag_core.embeddings import load_embedder
from rag_core.retrieval import DocumentIndex
from rag_rerank.settings import AppSettings

CORPUS = [
    ("py-1", "Use try and except to catch an exception; finally runs clean-up code either way."),
    ("py-2", "The with statement calls __enter__ and __exit__, so files are closed automatically."),
    ("py-3", "Default argument values are evaluated once, when the function is defined."),
    ("py-4", "The is operator compares identity, == compares equality of values."),
    ("bio-1", "Photosynthesis converts light into chemical energy in plants."),
    ("bio-2", "Mitochondria produce most of the cell's supply of ATP."),
    ("geo-1", "Paris is the capital of France and sits on the Seine."),
    ("geo-2", "Washington, D.C. is the capital of the United States."),
    ("geo-3", "Carson City is the capital city of Nevada."),
    ("zh-1", "猫是一种常见的家养宠物。"),
    ("food-1", "Bread is made from flour, water, salt and yeast."),
    ("food-2", "Espresso is coffee brewed by forcing hot water through fine grounds."),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """A throw-away redis-server on a loopback port (no persistence)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run ./scripts/ensure-redis.sh (make test does)")
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> DocumentIndex:
    index = DocumentIndex.open(tmp_path_factory.mktemp("index"), load_embedder("builtin:all-MiniLM-L6-v2"))
    index.add_documents([Document(text, {"source": doc_id}, id=doc_id) for doc_id, text in CORPUS])
    index.save()
    return index


class LiveServer:
    """uvicorn serving an app on a loopback port, in a thread."""

    def __init__(self, app: object, settings: AppSettings | None = None) -> None:
        import uvicorn

        from rag_rerank.service.guards import uvicorn_config

        self.port = free_port()
        config = uvicorn_config(app, settings or AppSettings(), host="127.0.0.1", port=self.port, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server():
    servers: list[LiveServer] = []

    def start(app: object, settings: AppSettings | None = None) -> LiveServer:
        server = LiveServer(app, settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def bi_reranker():
    from rag_core.rerankers import BiEncoderReranker

    return BiEncoderReranker()


ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config, items):
    """Everything under tests/service exercises the HTTP service: marked ``service``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.service)
