"""The reference engine: ``transformers`` ``AutoModelForSequenceClassification`` on torch."""

from __future__ import annotations

import inspect
import logging
from typing import Any, ClassVar, Literal

import numpy as np

from rag_core.engines._base import TransformerEngine, logits_to_scores
from rag_core.engines._cpu import cuda_available, current_cpu
from rag_core.engines._loading import default_threads, load_sequence_classifier, open_checkpoint
from rag_core.engines._tokenization import EncodedBatch, LongDocumentMode

__all__ = ["TorchEngine", "pick_device"]

logger = logging.getLogger(__name__)

Precision = Literal["auto", "float32", "float16", "bfloat16"]


def pick_device(device: str | None = None) -> str:
    """``device`` when given, else CUDA when available, else CPU (the automatic fallback)."""
    if device:
        return device
    return "cuda" if cuda_available() else "cpu"


class TorchEngine(TransformerEngine):
    """Runs the checkpoint with torch. On CUDA, an out-of-memory error halves the batch and
    retries, down to one pair, before failing."""

    backend: ClassVar[str] = "torch"

    def __init__(
        self,
        model_name: str,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        max_batch_tokens: int = 8192,
        long_documents: LongDocumentMode = "chunk",
        max_windows: int | None = None,
        precision: Precision = "auto",
        threads: int | None = None,
        revision: str | None = None,
    ) -> None:
        import torch

        folder, config, tokenizer = open_checkpoint(
            model_name, max_length=max_length, long_documents=long_documents, revision=revision, max_windows=max_windows
        )
        super().__init__(model_name, tokenizer, batch_size=batch_size, max_batch_tokens=max_batch_tokens)
        self.device = pick_device(device)
        if self.device == "cpu":
            torch.set_num_threads(threads or default_threads())
        self.requested_precision = precision
        self.precision_note: str | None = None
        self.native = True
        dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(precision, torch.float32)
        cpu = current_cpu()
        if dtype != torch.float32 and self.device == "cpu" and precision not in cpu.native_precisions:
            # A pin is honoured: every node of a deployment must give the same scores. torch
            # emulates the precision here, correctly but slower than float32; say so loudly.
            self.native = False
            self.precision_note = (
                f"{precision} is pinned, but this CPU ({cpu.model}) has no native {precision} matrix units "
                "(avx512_bf16/amx_bf16 for bfloat16, avx512_fp16/amx_fp16 for float16): torch emulates it, so "
                f"scores match the nodes that run {precision} natively but run slower than float32 here. "
                "Pin RERANKER_PRECISION=float32 on every node for bit-stable scores that run at full speed anywhere."
            )
            _warn_once(self.precision_note)
        model = load_sequence_classifier(folder, model_name, dtype=dtype)  # the weights are cast once, here
        self.model = model.to(self.device).eval()
        self.dtype = dtype
        self.config = config
        self._takes_token_types = "token_type_ids" in inspect.signature(self.model.forward).parameters
        logger.info("loaded %s on %s (%s, max_length=%d)", model_name, self.device, dtype, self.max_length)

    @property
    def engine_name(self) -> str:
        short = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
        return f"torch-{short.get(str(self.dtype).replace('torch.', ''), 'fp32')}"

    def _run(self, batch: EncodedBatch, start: int, stop: int) -> np.ndarray:
        import torch

        inputs = {
            "input_ids": torch.from_numpy(batch.input_ids[start:stop]).to(self.device),
            "attention_mask": torch.from_numpy(batch.attention_mask[start:stop]).to(self.device),
        }
        if self._takes_token_types:
            inputs["token_type_ids"] = torch.from_numpy(batch.token_type_ids[start:stop]).to(self.device)
        with torch.inference_mode():
            logits = self.model(**inputs).logits.float().cpu().numpy()
        return logits_to_scores(logits)

    def _forward(self, batch: EncodedBatch) -> np.ndarray:
        import torch

        rows = len(batch.rows)
        step = rows
        while True:
            try:
                parts = [self._run(batch, s, min(s + step, rows)) for s in range(0, rows, step)]
                return np.concatenate(parts)
            except torch.cuda.OutOfMemoryError:
                if step == 1:
                    raise
                torch.cuda.empty_cache()
                step = max(1, step // 2)
                logger.warning("CUDA out of memory; retrying with batches of %d", step)

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def describe(self) -> dict[str, Any]:
        dtype = str(self.dtype).replace("torch.", "")
        info = {
            **super().describe(),
            "device": self.device,
            "dtype": dtype,
            "precision": dtype,
            "quantize": "none",
            "native": self.native,
        }
        if self.precision_note:
            info["precision_note"] = self.precision_note
        return info


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning(message)
