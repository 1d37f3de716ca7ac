"""LLM rerankers behind the scoring seam: a causal language model reads a prompt built from the
instruction, the query and the passage, and the score is read from its next-token logits.

Two families, each with its model card's prompt and scoring, reproduced token for token:

* ``qwen3`` (Qwen3-Reranker-0.6B/4B/8B): a chat prompt with ``<Instruct>``, ``<Query>`` and
  ``<Document>`` between a fixed system prefix and an assistant suffix; the score is
  ``P(yes) / (P(yes) + P(no))`` at the last position, so the raw logit here is
  ``logit(yes) - logit(no)`` and ``sigmoid`` of it is the card's score.
* ``bge-gemma`` (BAAI/bge-reranker-v2-gemma): ``<bos>A: {query}\\nB: {passage}\\n{prompt}``; the
  score is the logit of ``Yes`` at the last position (FlagEmbedding's ``normalize=True`` applies
  ``sigmoid``, as ``rerank_score`` does here).

Sequences are padded on the left (the last position is the answer slot), sorted by length and
batched under a token budget. The instruction travels inside the query of a pair (see
:func:`compose_instruction`), so requests with different instructions share batches and the
score cache keeps them apart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from rag_core._errors import ModelLoadError
from rag_core._hub import resolve_model_dir
from rag_core.engines._base import PairScores, ScoringEngine
from rag_core.engines._cpu import current_cpu
from rag_core.engines._loading import default_threads, read_config
from rag_core.engines._torch import pick_device

__all__ = [
    "INSTRUCTION_SEPARATOR",
    "TEMPLATES",
    "LlmEngine",
    "PromptTemplate",
    "compose_instruction",
    "detect_template",
    "split_instruction",
]

logger = logging.getLogger(__name__)

#: Joins an instruction and a query into the query of a pair (ASCII unit separator: never typed).
INSTRUCTION_SEPARATOR = "\x1f"


def compose_instruction(instruction: str | None, query: str) -> str:
    return query if not instruction else f"{instruction}{INSTRUCTION_SEPARATOR}{query}"


def split_instruction(text: str) -> tuple[str | None, str]:
    instruction, separator, query = text.partition(INSTRUCTION_SEPARATOR)
    return (instruction, query) if separator else (None, text)


@dataclass(frozen=True)
class PromptTemplate:
    """A family's prompt and scoring, as its model card publishes them."""

    name: str
    default_instruction: str
    yes: str
    no: str | None  # None: the score is the "yes" logit alone
    default_max_length: int

    def encode(
        self, tokenizer: Any, instruction: str, query: str, passage: str, max_length: int
    ) -> tuple[list[int], bool]:
        """Token ids of the whole prompt, and whether the passage was cut to fit ``max_length``."""
        if self.name == "qwen3":
            prefix = tokenizer.encode(_QWEN3_PREFIX, add_special_tokens=False)
            suffix = tokenizer.encode(_QWEN3_SUFFIX, add_special_tokens=False)
            body = tokenizer.encode(
                f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {passage}", add_special_tokens=False
            )
            room = max(1, max_length - len(prefix) - len(suffix))
            return prefix + body[:room] + suffix, len(body) > room
        # bge-gemma: <bos>A: query (at most 3/4 of the budget) \n B: passage (the rest) \n prompt
        sep = tokenizer.encode("\n", add_special_tokens=False)
        prompt = tokenizer.encode(instruction, add_special_tokens=False)
        query_ids = tokenizer.encode(f"A: {query}", add_special_tokens=False)[: max_length * 3 // 4]
        head = [tokenizer.bos_token_id, *query_ids]
        tail = sep + tokenizer.encode(f"B: {passage}", add_special_tokens=False)[:max_length]
        room = max(0, max_length - len(head))
        return head + tail[:room] + sep + prompt, len(tail) > room


_QWEN3_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
)
_QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

TEMPLATES: dict[str, PromptTemplate] = {
    "qwen3": PromptTemplate(
        "qwen3", "Given a web search query, retrieve relevant passages that answer the query", "yes", "no", 8192
    ),
    "bge-gemma": PromptTemplate(
        "bge-gemma",
        "Given a query A and a passage B, determine whether the passage contains an answer to the query by "
        "providing a prediction of either 'Yes' or 'No'.",
        "Yes",
        None,
        1024,
    ),
}

#: model_type of a causal LM → the family whose prompt it was trained with.
_FAMILIES = {"qwen3": "qwen3", "qwen2": "qwen3", "gemma": "bge-gemma", "gemma2": "bge-gemma"}


def detect_template(folder: Path, config: dict[str, Any]) -> str | None:
    """The prompt family of a checkpoint: its ``rag_rerank.json`` (``{"llm_template": ...}``), else
    its ``model_type``; None when unknown."""
    import json

    saved = folder / "rag_rerank.json"
    if saved.is_file():
        try:
            name = json.loads(saved.read_text(encoding="utf-8")).get("llm_template")
        except ValueError:
            name = None
        if name:
            return str(name)
    return _FAMILIES.get(str(config.get("model_type", "")))


class LlmEngine(ScoringEngine):
    """Scores (query, passage) pairs with a causal LM and its family's prompt (torch; bf16 where
    the GPU or the CPU has it natively, else fp32, unless ``precision`` pins it)."""

    backend: ClassVar[str] = "torch"

    def __init__(
        self,
        model_name: str,
        *,
        template: str | None = None,
        precision: Literal["auto", "float32", "float16", "bfloat16"] = "auto",
        device: str | None = None,
        max_length: int | None = None,
        batch_size: int = 8,
        max_batch_tokens: int = 16384,
        threads: int | None = None,
        revision: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = resolve_model_dir(model_name, revision)
        config = read_config(folder)
        architectures = list(config.get("architectures") or [])
        if architectures and not any("CausalLM" in a or "LMHeadModel" in a for a in architectures):
            raise ModelLoadError(
                model_name,
                f"its config names {', '.join(architectures)}, not a causal language model: the llm type needs one",
                remedies=["Use RERANKER_TYPE=cross_encoder for a *ForSequenceClassification checkpoint."],
            )
        name = template or detect_template(folder, config)
        if name not in TEMPLATES:
            raise ModelLoadError(
                model_name,
                f"no prompt family is known for model_type {config.get('model_type')!r}"
                + (f" (asked for {template!r})" if template else ""),
                remedies=[
                    f"Set RERANKER_TEMPLATE to one of {', '.join(TEMPLATES)} if the model was trained with its prompt.",
                    'Or save {"llm_template": "<family>"} in the model folder\'s rag_rerank.json.',
                ],
            )
        self.template = TEMPLATES[name]
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except Exception as exc:
            raise ModelLoadError(model_name, f"cannot load its tokenizer: {exc}") from exc
        self.yes_id = self._token_id(model_name, self.template.yes)
        self.no_id = self._token_id(model_name, self.template.no) if self.template.no else None
        self.device = pick_device(device)
        cpu = current_cpu()
        if precision == "auto":
            native = self.device != "cpu" or "bfloat16" in cpu.native_precisions
            precision = "bfloat16" if native else "float32"
        self.native = self.device != "cpu" or precision in cpu.native_precisions
        if not self.native:
            logger.warning(
                "%s is pinned for %s, but this CPU (%s) has no native units for it: emulated, slower than float32",
                precision,
                model_name,
                cpu.model,
            )
        dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(precision, torch.float32)
        if self.device == "cpu":
            torch.set_num_threads(threads or default_threads())
        try:
            loaded: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, output_loading_info=True)
            model, info = loaded
        except Exception as exc:
            raise ModelLoadError(model_name, f"{type(exc).__name__}: {exc}") from exc
        missing = sorted(k for k in info.get("missing_keys", ()) if not k.endswith("position_ids"))
        if missing:
            raise ModelLoadError(
                model_name, f"the checkpoint lacks {', '.join(missing[:4])}: it would score with random weights"
            )
        self.model = model.to(self.device).eval()
        self.dtype = dtype
        self.model_name = model_name
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        positions = int(config.get("max_position_embeddings", self.template.default_max_length))
        self.max_length = min(max_length or self.template.default_max_length, positions)
        logger.info(
            "LLM reranker %s (%s prompt) on %s, %s, max_length=%d",
            model_name,
            self.template.name,
            self.device,
            str(dtype).replace("torch.", ""),
            self.max_length,
        )

    def _token_id(self, model_name: str, token: str) -> int:
        ids = self.tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1 or ids[0] == self.tokenizer.unk_token_id:
            raise ModelLoadError(
                model_name,
                f"its tokenizer does not have {token!r} as one token, which the {self.template.name} prompt scores",
            )
        return int(ids[0])

    @property
    def engine_name(self) -> str:
        short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
        return f"torch-{short.get(str(self.dtype).replace('torch.', ''), 'fp32')}"

    def encode(self, pairs: Sequence[tuple[str, str]]) -> tuple[list[list[int]], np.ndarray]:
        """The prompts' token ids and which passages were cut (exposed for tests and tooling)."""
        encoded: list[list[int]] = []
        truncated = np.zeros(len(pairs), dtype=bool)
        for i, (composite, passage) in enumerate(pairs):
            instruction, query = split_instruction(composite)
            ids, cut = self.template.encode(
                self.tokenizer, instruction or self.template.default_instruction, query, passage, self.max_length
            )
            encoded.append(ids)
            truncated[i] = cut
        return encoded, truncated

    def count_tokens(self, pairs: Sequence[tuple[str, str]]) -> int:
        """Tokens the prompts of ``pairs`` cost (the usage that Jina-style clients read)."""
        return sum(len(ids) for ids in self.encode(pairs)[0])

    def score(self, pairs: Sequence[tuple[str, str]]) -> PairScores:
        import torch

        if not pairs:
            return PairScores.empty()
        encoded, truncated = self.encode(pairs)
        logits = np.zeros(len(pairs), dtype=np.float32)
        order = sorted(range(len(pairs)), key=lambda i: len(encoded[i]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        start = 0
        while start < len(order):
            width = len(encoded[order[start]])
            stop = start + 1
            while (
                stop < len(order)
                and stop - start < self.batch_size
                and len(encoded[order[stop]]) * (stop - start + 1) <= self.max_batch_tokens
            ):
                stop += 1
            rows = order[start:stop]
            width = max(len(encoded[i]) for i in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):  # left padding: the last position is every row's answer slot
                n = len(encoded[i])
                ids[r, width - n :] = torch.tensor(encoded[i], dtype=torch.long)
                mask[r, width - n :] = 1
            with torch.inference_mode():
                out = (
                    self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), logits_to_keep=1)
                    .logits[:, -1, :]
                    .float()
                )
            yes = out[:, self.yes_id]
            value = yes - out[:, self.no_id] if self.no_id is not None else yes
            logits[rows] = value.cpu().numpy()
            start = stop
        return PairScores(logits, np.ones(len(pairs), dtype=np.int64), truncated)

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "template": self.template.name,
            "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""),
            "max_length": self.max_length,
            "native": self.native,
        }
