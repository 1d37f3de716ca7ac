"""LLM rerankers on tiny random checkpoints of the real architectures: scores equal each model
card's published formula (re-implemented here from the cards, independently of the library)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rag_core import InvalidInputError, ModelLoadError
from rag_core.rerankers import CrossEncoderReranker, LlmReranker, RerankerFactory

QUERY = "what is the capital of france"
DOCS = [
    "The capital of France is Paris.",
    "Bread needs flour, water and yeast.",
    "法国的首都是巴黎。",
    "Neural networks learn weights with backpropagation. " * 12,
    "no",
]


def qwen3_card_scores(folder, query, docs, instruction=None, max_length=8192):
    """Qwen3-Reranker's model card, transformers usage."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    token_false_id = tokenizer.convert_tokens_to_ids("no")
    token_true_id = tokenizer.convert_tokens_to_ids("yes")
    prefix = (
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
        'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
    )
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    prefix_tokens = tokenizer.encode(prefix, add_special_tokens=False)
    suffix_tokens = tokenizer.encode(suffix, add_special_tokens=False)
    task = instruction or "Given a web search query, retrieve relevant passages that answer the query"
    pairs = [f"<Instruct>: {task}\n<Query>: {query}\n<Document>: {doc}" for doc in docs]
    inputs = tokenizer(
        pairs,
        padding=False,
        truncation="longest_first",
        return_attention_mask=False,
        max_length=max_length - len(prefix_tokens) - len(suffix_tokens),
    )
    for i, ele in enumerate(inputs["input_ids"]):
        inputs["input_ids"][i] = prefix_tokens + ele + suffix_tokens
    inputs = tokenizer.pad(inputs, padding=True, return_tensors="pt", max_length=max_length)
    with torch.no_grad():
        batch_scores = model(**inputs).logits[:, -1, :]
        stacked = torch.stack([batch_scores[:, token_false_id], batch_scores[:, token_true_id]], dim=1)
        return torch.nn.functional.log_softmax(stacked, dim=1)[:, 1].exp().numpy()


def bge_gemma_card_scores(folder, query, docs, prompt=None, max_length=1024):
    """bge-reranker-v2-gemma's model card (FlagEmbedding's get_inputs), normalised with sigmoid."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    if prompt is None:
        prompt = (
            "Given a query A and a passage B, determine whether the passage contains an answer to the query by "
            "providing a prediction of either 'Yes' or 'No'."
        )
    sep = "\n"
    prompt_inputs = tokenizer(prompt, return_tensors=None, add_special_tokens=False)["input_ids"]
    sep_inputs = tokenizer(sep, return_tensors=None, add_special_tokens=False)["input_ids"]
    inputs = []
    for passage in docs:
        query_inputs = tokenizer(
            f"A: {query}", return_tensors=None, add_special_tokens=False, max_length=max_length * 3 // 4,
            truncation=True,
        )  # fmt: skip
        passage_inputs = tokenizer(
            f"B: {passage}", return_tensors=None, add_special_tokens=False, max_length=max_length, truncation=True
        )
        # the card's tokenizer.prepare_for_model(first, second, truncation="only_second", max_length=max_length,
        # add_special_tokens=False) (gone from transformers 5's fast tokenizers): the first list kept whole,
        # the second cut from its end so that both fit max_length
        first = [tokenizer.bos_token_id] + query_inputs["input_ids"]
        second = sep_inputs + passage_inputs["input_ids"]
        item = {"input_ids": first + second[: max(0, max_length - len(first))]}
        item["input_ids"] = item["input_ids"] + sep_inputs + prompt_inputs
        item["attention_mask"] = [1] * len(item["input_ids"])
        inputs.append(item)
    batch = tokenizer.pad(
        inputs, padding=True, max_length=max_length + len(sep_inputs) + len(prompt_inputs), pad_to_multiple_of=8,
        return_tensors="pt",
    )  # fmt: skip
    yes_loc = tokenizer("Yes", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        logits = model(**batch, return_dict=True).logits[:, -1, yes_loc].view(-1).float()
    return torch.sigmoid(logits).numpy()


@pytest.mark.parametrize("max_length", [8192, 170])
def test_qwen3_scores_equal_the_model_card(tiny_qwen3_dir, max_length):
    reranker = LlmReranker(str(tiny_qwen3_dir), precision="float32", max_length=max_length, batch_size=2)
    got = reranker.score(QUERY, DOCS)
    expected = qwen3_card_scores(tiny_qwen3_dir, QUERY, DOCS, max_length=min(max_length, 512))
    cut = reranker.rerank_sync(QUERY, DOCS, top_n=len(DOCS))
    assert any(d.metadata.get("rerank_truncated") for d in cut) == (max_length < 512)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(got) > 1e-4
    task = "Given a question in French or Chinese, find the passage that answers it"
    with_task = reranker.score(QUERY, DOCS, instruction=task)
    np.testing.assert_allclose(
        with_task, qwen3_card_scores(tiny_qwen3_dir, QUERY, DOCS, task, max_length=min(max_length, 512)), atol=1e-5
    )
    assert not np.allclose(with_task, got)  # the instruction is read
    reranker.close()


def test_bge_gemma_scores_equal_the_model_card(tiny_gemma_dir):
    reranker = LlmReranker(str(tiny_gemma_dir), precision="float32", max_length=64)
    assert reranker.describe()["template"] == "bge-gemma"
    got = reranker.score(QUERY, DOCS)
    np.testing.assert_allclose(got, bge_gemma_card_scores(tiny_gemma_dir, QUERY, DOCS, max_length=64), atol=1e-5)
    assert np.ptp(got) > 1e-4
    reranker.close()


async def test_rerank_reports_the_instruction_and_results_keep_the_contract(tiny_qwen3_dir):
    reranker = LlmReranker(str(tiny_qwen3_dir), precision="float32", top_n=3, instruction="Find the capital")
    result = await reranker.rerank(QUERY, DOCS)
    assert result.stats.instruction == "Find the capital" and len(result) == 3
    scores = [d.metadata["rerank_score"] for d in result]
    assert scores == sorted(scores, reverse=True) and all(0.0 < s < 1.0 for s in scores)
    assert (await reranker.rerank(QUERY, DOCS, instruction="Other task")).stats.instruction == "Other task"
    long = await reranker.rerank(QUERY, ["word " * 20_000])
    assert long[0].metadata.get("rerank_truncated") is True  # cut to the context, and said so
    with pytest.raises(InvalidInputError, match="instruction"):
        await reranker.rerank(QUERY, DOCS, instruction="bad\x1fseparator")
    reranker.close()


async def test_concurrent_requests_with_different_instructions_share_batches_and_stay_apart(tiny_qwen3_dir):
    import asyncio

    reranker = LlmReranker(str(tiny_qwen3_dir), precision="float32", microbatch_wait_ms=20)
    alone = [reranker.score(QUERY, DOCS, instruction=f"task {i}") for i in range(3)]
    reranker.reset_caches()
    together = await asyncio.gather(
        *(reranker.rerank(QUERY, DOCS, top_n=len(DOCS), instruction=f"task {i}") for i in range(3))
    )
    for expected, result in zip(alone, together, strict=True):
        got = sorted(d.metadata["rerank_score"] for d in result)
        np.testing.assert_allclose(got, sorted(expected), atol=1e-5)
    reranker.close()


def test_a_cross_encoder_ignores_an_instruction_and_says_so(tiny_reranker):
    plain = tiny_reranker.score(QUERY, DOCS)
    np.testing.assert_allclose(tiny_reranker.score(QUERY, DOCS, instruction="anything"), plain)
    assert tiny_reranker.rerank_sync(QUERY, DOCS, instruction="anything").stats.instruction is None


def test_the_factory_detects_a_causal_lm_and_builds_the_llm_type(tiny_qwen3_dir, tiny_model_dir):
    detected = RerankerFactory.create_sync("cross_encoder", {"model": str(tiny_qwen3_dir), "precision": "float32"})
    assert isinstance(detected, LlmReranker) and detected.name == "llm"
    with pytest.raises(ModelLoadError, match="not a causal language model"):
        LlmReranker(str(tiny_model_dir))
    with pytest.raises(ModelLoadError, match="RERANKER_TEMPLATE"):
        LlmReranker(str(tiny_qwen3_dir), template="mystery")
    with pytest.raises(ModelLoadError, match="RERANKER_TYPE=llm"):
        CrossEncoderReranker(str(tiny_qwen3_dir))
