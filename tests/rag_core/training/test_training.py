from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from rag_core import InvalidInputError
from rag_core.rerankers import CrossEncoderReranker
from rag_core.training import (
    TrainConfig,
    TrainingGroup,
    compute_loss,
    read_training_jsonl,
    sample_group,
    train_cross_encoder,
)

EXAMPLES = [
    ("what do cats eat", "Cats are carnivores and eat meat and fish.", 1.0),
    ("what do cats eat", "The stock market rose by two percent.", 0.0),
    ("what do cats eat", "Rain falls when clouds are saturated.", 0.0),
    ("capital of france", "Paris is the capital and largest city of France.", 1.0),
    ("capital of france", "Cats are carnivores and eat meat and fish.", 0.0),
    ("capital of france", "Bananas grow in tropical climates.", 0.0),
]


def write_pairs(path):
    path.write_text("\n".join(json.dumps({"query": q, "passage": p, "label": y}) for q, p, y in EXAMPLES))
    return path


def test_jsonl_pairs_become_groups_and_bad_lines_are_reported(tmp_path):
    groups = read_training_jsonl(write_pairs(tmp_path / "pairs.jsonl"))
    assert [g.query for g in groups] == ["what do cats eat", "capital of france"]
    assert groups[0].labels == [1.0, 0.0, 0.0]
    (tmp_path / "bad.jsonl").write_text('{"query": "q"}\n')
    with pytest.raises(InvalidInputError, match="bad.jsonl:1"):
        read_training_jsonl(tmp_path / "bad.jsonl")


def test_sampling_puts_a_positive_first_and_adds_foreign_negatives():
    group = TrainingGroup("q", [f"p{i}" for i in range(10)], [0, 0, 3, None, 0, 2, 0, 0, 0, 0])
    sampled = sample_group(group, 5, random.Random(0), relevant_grade=2, foreign=["other query's passage"])
    assert sampled is not None and len(sampled.passages) == 5
    assert sampled.labels[0] >= 2 and sampled.passages[-1] == "other query's passage" and sampled.labels[-1] == 0
    assert sample_group(TrainingGroup("q", ["a", "b"], [0, 1]), 2, random.Random(0), relevant_grade=2) is None


def test_losses_prefer_the_right_order():
    mask = torch.ones(1, 3, dtype=torch.bool)
    labels = torch.tensor([[3.0, 0.0, 0.0]])
    teacher = torch.tensor([[2.0, 0.0, -1.0]])
    good, bad = torch.tensor([[4.0, 0.0, -2.0]]), torch.tensor([[-2.0, 0.0, 4.0]])
    for name in ("bce", "listwise", "margin_mse"):
        args = (mask, labels, mask, teacher)
        assert compute_loss(name, good, *args) < compute_loss(name, bad, *args), name


def test_a_tiny_training_run_saves_a_loadable_checkpoint_whose_scores_moved(tmp_path, tiny_model_dir):
    groups = read_training_jsonl(write_pairs(tmp_path / "pairs.jsonl"))
    config = TrainConfig(
        base_model=str(tiny_model_dir),
        output_dir=str(tmp_path / "out"),
        loss="bce",
        epochs=4,
        learning_rate=1e-3,
        group_size=3,
        groups_per_batch=2,
        foreign_negatives=0,
        relevant_grade=1.0,
        max_grade=1.0,
        max_length=64,
        save_steps=2,
        seed=1,
        threads=1,
    )
    result = train_cross_encoder(groups, config)
    assert result.steps == 4 and (tmp_path / "out" / "config.json").is_file()
    before = CrossEncoderReranker(str(tiny_model_dir), backend="torch")
    after = CrossEncoderReranker(str(tmp_path / "out"), backend="torch")
    pairs = [(q, p) for q, p, _ in EXAMPLES]
    old = before.engine.score(pairs).logits
    new = after.engine.score(pairs).logits
    assert np.abs(new - old).max() > 1e-3
    assert json.loads((tmp_path / "out" / "training_args.json").read_text())["loss"] == "bce"
    assert sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir()) == ["step-2"]

    # resuming a finished run does no more steps; a longer plan continues from the checkpoint
    again = train_cross_encoder(groups, config)
    assert again.steps == 4 and again.pairs == 0
