"""Shared fixtures: real checkpoints built offline, and the shared TREC data when present."""

from __future__ import annotations

import os
import sys
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
# The service would renice every thread but its event loop's (ENGINE_NICE): not the test runner's.
os.environ.setdefault("ENGINE_NICE", "0")
# Engine decisions are cached per machine: the suite keeps its own, never the user's.
os.environ["RAG_RERANK_CACHE"] = tempfile.mkdtemp(prefix="rag-rerank-test-cache-")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # test helpers (document_files) import by name
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


_LLM_CORPUS = [
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided.",
    'Note that the answer can only be "yes" or "no". Given a web search query, retrieve relevant passages',
    "that answer the query. Given a query A and a passage B, determine whether the passage contains an answer",
    "to the query by providing a prediction of either 'Yes' or 'No'. The capital of France is Paris.",
    "Neural networks learn weights with backpropagation. Bread needs flour, water and yeast. 法国的首都是巴黎。",
]


def build_tiny_causal_lm(folder: Path, family: str, *, seed: int = 0) -> Path:
    """A tiny random causal LM of the real architecture of an LLM reranker family ("qwen3":
    Qwen3ForCausalLM, "gemma": GemmaForCausalLM) with a byte-level BPE tokenizer built with
    ``tokenizers`` that carries the family's special tokens and its answer words as single tokens."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GemmaConfig, GemmaForCausalLM, PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    if (folder / "config.json").is_file():
        return folder
    if family == "qwen3":
        special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
        words = ["yes", "no"]
    else:
        special = ["<pad>", "<eos>", "<bos>", "<unk>"]
        words = ["Yes", "No"]
    tokenizer = Tokenizer(models.BPE(unk_token=None if family == "qwen3" else "<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_LLM_CORPUS * 20, trainer=trainer)
    tokenizer.add_tokens(words)
    if family == "qwen3":
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, pad_token="<|endoftext|>", eos_token="<|im_end|>", padding_side="left"
        )
    else:
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
            padding_side="left",
        )  # fmt: skip
    torch.manual_seed(seed)
    common = {
        "vocab_size": len(fast), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "max_position_embeddings": 512,
        "pad_token_id": fast.pad_token_id,
    }  # fmt: skip
    if family == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(**common, tie_word_embeddings=True))
    else:
        model = GemmaForCausalLM(GemmaConfig(**common, bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id))
    with torch.no_grad():  # spread the output layer so that yes/no logits differ clearly between inputs
        for p in model.parameters():
            p.mul_(4.0) if p.dim() > 1 else None
    model.eval().save_pretrained(str(folder))
    fast.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "tiny-qwen3-reranker", "qwen3")


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "tiny-bge-gemma-reranker", "gemma")


_MULTILINGUAL_CORPUS = [
    "The capital of France is Paris. Bread needs flour, water and yeast.",
    "法国的首都是巴黎。面包需要面粉、水和酵母。神经网络通过反向传播算法学习权重。",
    "La capitale de la France est Paris. Le pain demande de la farine et de la levure.",
    "Die Hauptstadt von Frankreich ist Paris. Neuronale Netze lernen Gewichte.",
    "猫是一种常见的家养宠物。北京是中国的首都。东京是日本的首都。",
]


def build_tiny_xlmr(folder: Path, *, seed: int = 1) -> Path:
    """An XLM-RoBERTa sequence classifier (the architecture of bge-reranker-base/-large/-v2-m3,
    jina-reranker-v2 and mMiniLM) with random weights and a sentencepiece-style Unigram tokenizer
    built with ``tokenizers`` (Metaspace pre-tokenizer, <s> </s> </s> pairs, no token type ids)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaForSequenceClassification

    if (folder / "config.json").is_file():
        return folder
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=special, unk_token="<unk>")
    tokenizer.train_from_iterator(_MULTILINGUAL_CORPUS * 30, trainer=trainer)
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>", model_max_length=256,
    )  # fmt: skip
    torch.manual_seed(seed)
    config = XLMRobertaConfig(
        vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=258, num_labels=1, pad_token_id=fast.pad_token_id, type_vocab_size=1,
        initializer_range=0.3,
    )  # fmt: skip
    model = XLMRobertaForSequenceClassification(config).eval()
    model.save_pretrained(str(folder))
    fast.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_xlmr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_xlmr(tmp_path_factory.mktemp("models") / "tiny-xlmr-reranker")
