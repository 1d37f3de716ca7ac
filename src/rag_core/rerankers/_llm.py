"""LLM rerankers (``RERANKER_TYPE=llm``): Qwen3-Reranker and bge-reranker-v2-gemma style causal
language models, with their cards' prompts and an ``instruction``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from rag_core.engines import LlmEngine
from rag_core.rerankers._cross_encoder import CrossEncoderReranker
from rag_core.rerankers._fusion import FusionSetting

__all__ = ["LlmReranker"]


class LlmReranker(CrossEncoderReranker):
    """Reranks with a causal LM that answers yes or no (see :mod:`rag_core.engines._llm`).

    ``template`` is the prompt family (``qwen3``, ``bge-gemma``; default: detected from the
    checkpoint), ``instruction`` the default task description (default: the card's). Scores go
    through the same micro-batcher, admission control, deadlines and score cache as a
    cross-encoder's; ``rerank_score`` is the card's probability (``qwen3``) or ``sigmoid`` of the
    ``Yes`` logit (``bge-gemma``, FlagEmbedding's ``normalize=True``).
    """

    name: ClassVar[str] = "llm"
    takes_instruction = True

    def __init__(
        self,
        model_name: str = "Qwen/Qwen3-Reranker-0.6B",
        top_n: int = 5,
        batch_size: int = 8,
        max_length: int | None = None,
        device: str | None = None,
        *,
        template: str | None = None,
        instruction: str | None = None,
        precision: Literal["auto", "float32", "float16", "bfloat16"] = "auto",
        max_batch_tokens: int = 16384,
        threads: int | None = None,
        revision: str | None = None,
        microbatch_wait_ms: float = 2.0,
        max_queue_tokens: int | None = None,
        max_queue_wait_s: float | None = None,
        score_cache_size: int = 50_000,
        fusion: FusionSetting = "none",
        fusion_weight: float | None = None,
    ) -> None:
        engine = LlmEngine(
            model_name,
            template=template,
            precision=precision,
            device=device,
            max_length=max_length,
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
            threads=threads,
            revision=revision,
        )
        super().__init__(
            model_name,
            top_n=top_n,
            batch_size=batch_size,
            microbatch_wait_ms=microbatch_wait_ms,
            max_queue_tokens=max_queue_tokens,
            max_queue_wait_s=max_queue_wait_s,
            score_cache_size=score_cache_size,
            fusion="none" if fusion == "auto" else fusion,
            fusion_weight=fusion_weight,
            instruction=instruction,
            engine=engine,
        )
        self.llm = engine

    @property
    def default_instruction(self) -> str | None:
        return self.llm.template.default_instruction

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "template": self.llm.template.name, "instruction": self.instruction}
