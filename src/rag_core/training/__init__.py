"""Fine-tuning cross-encoders: examples, losses, the training loop, teacher labelling."""

from __future__ import annotations

from rag_core.training._examples import (
    SampledGroup,
    TrainingGroup,
    groups_from_trec,
    read_training_jsonl,
    sample_group,
    training_keys,
    training_row,
    write_training_jsonl,
)
from rag_core.training._losses import LossName, compute_loss
from rag_core.training._trainer import TrainConfig, TrainResult, train_cross_encoder

__all__ = [
    "LossName",
    "SampledGroup",
    "TrainConfig",
    "TrainResult",
    "TrainingGroup",
    "compute_loss",
    "groups_from_trec",
    "read_training_jsonl",
    "sample_group",
    "train_cross_encoder",
    "training_keys",
    "training_row",
    "write_training_jsonl",
]
