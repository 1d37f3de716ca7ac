"""A model that cannot score as a cross-encoder is refused loudly, never used with random weights."""

from __future__ import annotations

import pytest

from rag_core import ModelLoadError
from rag_core.rerankers import CrossEncoderReranker


@pytest.fixture(scope="module")
def causal_lm_dir(tmp_path_factory):
    """A Qwen3-Reranker-shaped checkpoint: a causal LM (random weights, tiny)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    folder = tmp_path_factory.mktemp("qwen3-causal")
    config = Qwen3Config(
        vocab_size=320, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
    )  # fmt: skip
    Qwen3ForCausalLM(config).save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("backend", ["auto", "torch", "onnx"])
def test_a_causal_lm_is_refused_and_pointed_at_the_llm_type(causal_lm_dir, backend):
    with pytest.raises(ModelLoadError) as refused:
        CrossEncoderReranker(str(causal_lm_dir), backend=backend)
    message = str(refused.value)
    assert str(causal_lm_dir) in message and "Qwen3ForCausalLM" in message
    assert "RERANKER_TYPE=llm" in message


def test_a_head_missing_from_the_checkpoint_is_named(tiny_model_dir, tmp_path):
    """A sequence-classification config whose weights lack the classifier: transformers would
    initialise the head at random and report it in a log line nobody reads."""
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "headless"
    shutil.copytree(tiny_model_dir, folder, ignore=shutil.ignore_patterns("onnx"))
    weights = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if not k.startswith("classifier")}, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"classifier\.(weight|bias).*random"):
        CrossEncoderReranker(str(folder), backend="torch", precision="float32")


def test_an_encoder_is_pointed_at_the_embedding_and_late_interaction_types(tmp_path):
    from transformers import BertConfig, BertModel

    from rag_core.models import minilm_l6_encoder_dir

    folder = tmp_path / "encoder"
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(str(folder))  # fmt: skip
    import shutil

    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (minilm_l6_encoder_dir() / name).is_file():
            shutil.copy(minilm_l6_encoder_dir() / name, folder / name)
    with pytest.raises(ModelLoadError) as refused:
        CrossEncoderReranker(str(folder))
    assert "BertModel" in str(refused.value) and "bi_encoder" in str(refused.value) and "colbert" in str(refused.value)
