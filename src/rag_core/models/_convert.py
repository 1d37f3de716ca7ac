"""Building a cross-encoder checkpoint from an encoder checkpoint (a fresh classification head)."""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["build_cross_encoder"]

logger = logging.getLogger(__name__)


def build_cross_encoder(encoder_dir: str | Path, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Save ``encoder_dir``'s encoder with a new one-logit head (seeded) as a cross-encoder folder.

    The head is untrained, so the scores carry no relevance signal until the model is trained
    (``rag-rerank train``); the checkpoint has the architecture and speed of the real thing.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = Path(out_dir)
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(str(encoder_dir), num_labels=1)
    model.config.id2label = {0: "LABEL_0"}
    model.config.label2id = {"LABEL_0": 0}
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    logger.info("built cross-encoder %s from %s (untrained head, seed %d)", out, encoder_dir, seed)
    return out
