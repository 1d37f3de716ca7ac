"""Pair tokenisation, long-document windows and token-budget batching, shared by all engines."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from tokenizers import Encoding, Tokenizer

__all__ = ["EncodedBatch", "EncodedPairs", "LongDocumentMode", "PairTokenizer", "load_tokenizer", "token_counter"]

logger = logging.getLogger(__name__)

LongDocumentMode = Literal["truncate", "chunk"]

#: Upper bound on the share of the model's window a query may take in ``chunk`` mode.
MAX_QUERY_SHARE = 0.5


class EncodedPairs(NamedTuple):
    """Token windows for a list of pairs.

    ``windows[i]`` belongs to pair ``owner[i]``; a pair that fits the model has exactly one
    window, a long one (``chunk`` mode) several. ``truncated[p]`` says pair ``p`` lost tokens.
    """

    windows: list[Encoding]
    owner: np.ndarray
    window_counts: np.ndarray
    truncated: np.ndarray


class EncodedBatch(NamedTuple):
    """One padded batch, ready for a forward pass; ``rows`` index into ``EncodedPairs.windows``."""

    rows: np.ndarray
    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray


def load_tokenizer(model_dir: str | Path) -> tuple[Tokenizer, int, int | None]:
    """Load the fast (Rust) tokenizer of a model folder.

    Returns the tokenizer, its pad id and the ``model_max_length`` the checkpoint declares
    (None when it declares none). Slow-only checkpoints are converted once by ``transformers``.
    """
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(model_dir), use_fast=True)
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:  # pragma: no cover - every supported architecture has a fast tokenizer
        raise ValueError(f"{model_dir} has no fast tokenizer")
    tokenizer = Tokenizer.from_str(backend.to_str())
    pad_id = hf.pad_token_id if hf.pad_token_id is not None else 0
    declared = int(hf.model_max_length) if hf.model_max_length and hf.model_max_length < 1_000_000 else None
    return tokenizer, int(pad_id), declared


def token_counter(model_dir: str | Path) -> Callable[[str], int]:
    """A function counting a text's tokens with a model's own tokenizer (no special tokens): what
    chunking sizes passages in, so that a chunk fits the reranker's window."""
    tokenizer, _, _ = load_tokenizer(model_dir)
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


class PairTokenizer:
    """Encodes (query, passage) pairs exactly as ``transformers`` does, then batches them.

    * ``truncate``: ``longest_first`` truncation to ``max_length`` (the reference behaviour).
    * ``chunk``: a pair longer than ``max_length`` becomes overlapping windows of the passage,
      each with the full query; ``stride`` tokens overlap between windows. At most
      ``max_windows`` windows are kept per pair (the passage's start); a pair that loses windows
      is marked truncated, so one huge document cannot cost unbounded compute.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        max_length: int,
        *,
        pad_id: int = 0,
        long_documents: LongDocumentMode = "chunk",
        stride: int | None = None,
        max_windows: int | None = None,
    ) -> None:
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {max_length}")
        if max_windows is not None and max_windows < 1:
            raise ValueError(f"max_windows must be >= 1, got {max_windows}")
        self.max_windows = max_windows
        self.max_length = max_length
        self.pad_id = pad_id
        self.long_documents: LongDocumentMode = long_documents
        self.stride = stride if stride is not None else max(max_length // 8, 1)
        self._specials = tokenizer.num_special_tokens_to_add(True)
        self._max_query_tokens = int((max_length - self._specials) * MAX_QUERY_SHARE)
        self._query_tok = Tokenizer.from_str(tokenizer.to_str())
        self._query_tok.no_padding()
        self._query_tok.no_truncation()
        self._tok = Tokenizer.from_str(tokenizer.to_str())
        self._tok.no_padding()
        # Models without segment types (XLM-RoBERTa: one token type) get type 0 everywhere: the
        # tokenizer's template says so for a pair, but its overflow windows come back typed 0/1.
        probe = self._tok.encode("query", "passage")
        self.token_types = any(probe.type_ids)
        if long_documents == "truncate":
            self._tok.enable_truncation(max_length, strategy="longest_first")
        else:
            self._tok.enable_truncation(max_length, stride=self.stride, strategy="only_second")

    def _clip_queries(self, queries: list[str]) -> list[str]:
        """In chunk mode a query longer than half the window is cut (logged) so windows stay useful."""
        unique = list(dict.fromkeys(queries))
        clipped: dict[str, str] = {}
        for query, enc in zip(unique, self._query_tok.encode_batch(unique, add_special_tokens=False), strict=True):
            if len(enc.ids) > self._max_query_tokens:
                end = enc.offsets[self._max_query_tokens - 1][1]
                logger.warning(
                    "query of %d tokens cut to %d for long-document windows", len(enc.ids), self._max_query_tokens
                )
                clipped[query] = query[:end]
        return [clipped.get(q, q) for q in queries] if clipped else queries

    def encode(self, pairs: Sequence[tuple[str, str]]) -> EncodedPairs:
        queries = [q for q, _ in pairs]
        if self.long_documents == "chunk":
            queries = self._clip_queries(queries)
        encodings = self._tok.encode_batch(list(zip(queries, [p for _, p in pairs], strict=True)))
        windows: list[Encoding] = []
        owner: list[int] = []
        counts = np.ones(len(pairs), dtype=np.int64)
        truncated = np.zeros(len(pairs), dtype=bool)
        for index, enc in enumerate(encodings):
            windows.append(enc)
            owner.append(index)
            if enc.overflowing:
                truncated[index] = self.long_documents == "truncate"
                if self.long_documents == "chunk":
                    extra = enc.overflowing
                    if self.max_windows is not None and len(extra) >= self.max_windows:
                        extra = extra[: self.max_windows - 1]
                        truncated[index] = True
                    windows.extend(extra)
                    owner.extend([index] * len(extra))
                    counts[index] += len(extra)
        return EncodedPairs(windows, np.asarray(owner, dtype=np.int64), counts, truncated)

    def count_tokens(self, pairs: Sequence[tuple[str, str]]) -> int:
        """Tokens the pairs will cost once encoded (windows and their repeated queries included)."""
        return sum(len(w.ids) for w in self.encode(pairs).windows)

    def batches(self, encoded: EncodedPairs, batch_size: int, max_batch_tokens: int) -> Iterator[EncodedBatch]:
        """Yield padded batches: windows sorted by length (longest first), each batch holding at
        most ``batch_size`` windows and at most ``max_batch_tokens`` tokens after padding.
        A single window longer than the budget still forms a batch of one."""
        lengths = np.fromiter((len(w.ids) for w in encoded.windows), dtype=np.int64, count=len(encoded.windows))
        order = np.argsort(-lengths, kind="stable")
        start = 0
        total = len(order)
        while start < total:
            longest = int(lengths[order[start]])  # sorted: the first window is the longest of the batch
            fit = max(1, min(batch_size, max_batch_tokens // max(longest, 1)))
            rows = order[start : start + fit]
            start += len(rows)
            yield self._pad(encoded.windows, rows, longest)

    def _pad(self, windows: list[Encoding], rows: np.ndarray, width: int) -> EncodedBatch:
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            enc = windows[int(row)]
            n = len(enc.ids)
            ids[i, :n] = enc.ids
            mask[i, :n] = 1
            if self.token_types:
                types[i, :n] = enc.type_ids
        return EncodedBatch(rows, ids, mask, types)
