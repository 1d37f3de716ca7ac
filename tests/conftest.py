"""Shared fixtures: real checkpoints built offline, and the shared TREC data when present."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
# No outcome may depend on the machine that runs the suite: the library plans for a simulated
# AVX2-only CPU (the CPU-feature seam, rag_core.engines._cpu) unless RAG_RERANK_CPU names another
# profile (`RAG_RERANK_CPU=amx make test` runs the suite as an AMX machine would plan it); tests of
# other kinds use simulate_cpu(). Set here, before anything starts, so that spawned processes
# (Ray replicas, benchmark children) plan the same way.
os.environ.setdefault("RAG_RERANK_CPU", "avx2")
# Engine decisions are cached per machine: the suite keeps its own, never the user's.
os.environ["RAG_RERANK_CACHE"] = tempfile.mkdtemp(prefix="rag-rerank-test-cache-")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RAG_RERANK_SHARED_DATA", ROOT.parent / "shared" / "data"))


def build_tiny_cross_encoder(folder: Path, *, seed: int = 0, max_positions: int = 128) -> Path:
    """A 2-layer, 32-wide BERT cross-encoder with the MiniLM vocabulary (random, seeded)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from rag_core.models import minilm_l6_encoder_dir

    if (folder / "config.json").is_file():
        return folder
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        num_labels=1,
        initializer_range=0.3,
    )
    model = BertForSequenceClassification(config).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_l6_encoder_dir()))
    tokenizer.model_max_length = max_positions
    # A random encoder gives nearly the same pooled vector for every input; point the head along
    # the direction in which pooled vectors vary most, so that logits spread (std ~3) like a
    # trained model's and ranking tests are meaningful.
    samples = [f"sample text {i} " + "word " * (i % 9) + chr(0x4E00 + i) for i in range(64)]
    enc = tokenizer(["query"] * len(samples), samples, padding=True, return_tensors="pt")
    with torch.no_grad():
        pooled = model.bert(**enc).pooler_output
        centred = pooled - pooled.mean(dim=0)
        direction = torch.linalg.svd(centred, full_matrices=False).Vh[0]
        projection = centred @ direction
        model.classifier.weight.copy_((direction * 3.0 / projection.std()).unsqueeze(0))
        model.classifier.bias.fill_(float(-(pooled.mean(dim=0) @ direction) * 3.0 / projection.std()))
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-ce")


@pytest.fixture(scope="session")
def minilm_ce_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cross-encoder with the shipped all-MiniLM-L6-v2 encoder (untrained head)."""
    from rag_core.models import build_cross_encoder, minilm_l6_encoder_dir

    return build_cross_encoder(minilm_l6_encoder_dir(), tmp_path_factory.mktemp("models") / "minilm-ce")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "trec-dl19-passage").is_dir():
        pytest.skip(f"shared TREC data not found at {SHARED_DATA} (set RAG_RERANK_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_reranker(tiny_model_dir: Path):
    from rag_core.rerankers import CrossEncoderReranker

    reranker = CrossEncoderReranker(
        str(tiny_model_dir), backend="torch", precision="float32", quantize="none", top_n=5, batch_size=4
    )
    yield reranker
    reranker.close()


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the session (2 CPUs, no dashboard, sockets on loopback)."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private cluster: no token file
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # node address 127.0.0.1
    # a busy 2-core machine starts Serve's proxy slowly: give it time instead of failing
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    os.environ.setdefault("RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S", "60")
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'rag-rerank[ray]')")
    import logging

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()
