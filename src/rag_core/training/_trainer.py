"""Fine-tuning a cross-encoder: seeded, resumable, checkpointed, with progress."""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag_core._errors import ConfigurationError
from rag_core.training._examples import SampledGroup, TrainingGroup, sample_group
from rag_core.training._losses import LossName, compute_loss

__all__ = ["TrainConfig", "TrainResult", "train_cross_encoder"]

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved with the checkpoint)."""

    base_model: str
    output_dir: str
    loss: LossName = "listwise"
    epochs: float = 1.0
    learning_rate: float = 3e-5
    head_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    group_size: int = 8
    groups_per_batch: int = 4
    foreign_negatives: int = 0
    inbatch_negatives: int = 2
    hard_share: float = 0.5
    relevant_grade: float = 1.0
    max_grade: float = 3.0
    temperature: float = 1.0
    teacher_scale: float = 1.0
    label_weight: float = 0.5
    max_length: int = 256
    seed: int = 42
    threads: int | None = None
    save_steps: int = 500
    keep_checkpoints: int = 2
    log_steps: int = 25
    max_steps: int | None = None
    save_dtype: str = "float32"
    freeze_embeddings: bool = False
    sources: list[str] = field(default_factory=list)
    command: str = ""


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    pairs: int
    seconds: float
    final_loss: float


def _plan(groups: Sequence[TrainingGroup], config: TrainConfig) -> list[list[SampledGroup]]:
    """The whole, deterministic sequence of batches (so that a resumed run skips exactly)."""
    rng = random.Random(config.seed)
    positives = [
        g.passages[i]
        for g in groups
        if g.labels is not None
        for i, lab in enumerate(g.labels)
        if lab is not None and lab >= config.relevant_grade
    ] or [p for g in groups for p in g.passages[:1]]
    total_groups = max(1, round(len(groups) * config.epochs))
    order: list[int] = []
    while len(order) < total_groups:
        epoch = list(range(len(groups)))
        rng.shuffle(epoch)
        order.extend(epoch)
    sampled: list[SampledGroup] = []
    for index in order[:total_groups]:
        group = groups[index]
        own = set(group.passages)
        foreign: list[str] = []
        for _ in range(config.foreign_negatives * 4):
            if len(foreign) >= config.foreign_negatives:
                break
            candidate = rng.choice(positives)
            if candidate not in own:
                foreign.append(candidate)
        item = sample_group(
            group,
            config.group_size - (config.inbatch_negatives if config.groups_per_batch > 1 else 0),
            rng,
            relevant_grade=config.relevant_grade,
            hard_share=config.hard_share,
            foreign=foreign,
        )
        if item is not None:
            sampled.append(item)
    # length-grouped batches: sort windows of 50 batches' worth by length, then shuffle batches
    window = config.groups_per_batch * 50
    batches: list[list[SampledGroup]] = []
    for start in range(0, len(sampled), window):
        chunk = sorted(sampled[start : start + window], key=lambda s: sum(len(p) for p in s.passages) + len(s.query))
        batches.extend(chunk[i : i + config.groups_per_batch] for i in range(0, len(chunk), config.groups_per_batch))
    rng.shuffle(batches)
    if config.inbatch_negatives > 0:
        batches = [_with_inbatch_negatives(batch, config.inbatch_negatives) for batch in batches]
    if config.max_steps is not None:
        batches = batches[: config.max_steps]
    return batches


def _with_inbatch_negatives(batch: list[SampledGroup], count: int) -> list[SampledGroup]:
    """Append to each group the best passages of the *other* groups in the batch, as negatives.

    Those passages are the top of their own lists, so the same text is a target both high (for
    its query) and low (for the others) in one step: a query-independent "looks relevant" prior
    cannot fit, the model has to read the query. Their teacher score is the group's lowest.
    """
    if len(batch) < 2:
        return batch
    out: list[SampledGroup] = []
    for i, item in enumerate(batch):
        own = set(item.passages)
        others = [batch[(i + j) % len(batch)] for j in range(1, len(batch))]
        extra: list[str] = []
        for depth in range(max(len(o.passages) for o in others)):
            for other in others:
                if len(extra) < count and depth < len(other.passages) and other.passages[depth] not in own:
                    extra.append(other.passages[depth])
                    own.add(other.passages[depth])
            if len(extra) >= count:
                break
        teacher = None if item.teacher is None else [*item.teacher, *([min(item.teacher)] * len(extra))]
        out.append(
            item._replace(
                passages=[*item.passages, *extra], labels=[*item.labels, *([0.0] * len(extra))], teacher=teacher
            )
        )
    return out


def _latest_checkpoint(output: Path) -> Path | None:
    folder = output / "checkpoints"
    if not folder.is_dir():
        return None
    done = [p for p in folder.iterdir() if p.name.startswith("step-") and (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def train_cross_encoder(
    groups: Sequence[TrainingGroup],
    config: TrainConfig,
    *,
    resume: bool = True,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train ``config.base_model`` on ``groups`` and save a Hugging Face checkpoint.

    ``base_model`` may be an encoder (a fresh one-logit head is added) or a cross-encoder.
    Checkpoints go to ``output_dir/checkpoints/step-N`` every ``save_steps``; with ``resume``
    the run continues from the latest one (same data order: the plan is seeded).
    ``progress(step, total, loss)`` is called after every step.
    """
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    from rag_core._hub import resolve_model_dir
    from rag_core.engines import default_threads

    if not groups:
        raise ConfigurationError("no training groups")
    if config.loss in ("margin_mse", "mse") and not any(g.teacher is not None for g in groups):
        raise ConfigurationError(f"loss {config.loss!r} needs teacher scores in the training data")
    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads or default_threads())

    batches = _plan(groups, config)
    if not batches:
        raise ConfigurationError("no usable training groups (labelled groups need at least one positive)")
    finished = output / "trainer_state.json"
    if resume and finished.is_file():
        state = json.loads(finished.read_text())
        if state.get("completed") and int(state.get("step", 0)) >= len(batches):
            logger.info("%s already holds a finished run of %d steps; nothing to do", output, state["step"])
            return TrainResult(output, int(state["step"]), 0, 0.0, float(state.get("final_loss", math.nan)))
    checkpoint = _latest_checkpoint(output) if resume else None
    source = checkpoint if checkpoint is not None else resolve_model_dir(config.base_model)
    model = AutoModelForSequenceClassification.from_pretrained(str(source), num_labels=1, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    model.train()
    if config.freeze_embeddings:  # the word embeddings are most of a small model's weights; keep the teacher's
        for parameter in model.get_input_embeddings().parameters():
            parameter.requires_grad_(False)
    head_names = ("classifier.", "pooler.")
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    head = [p for n, p in trainable if any(h in n for h in head_names)]
    body = [p for n, p in trainable if not any(h in n for h in head_names)]
    param_groups: list[dict[str, Any]] = [
        {"params": body},
        {"params": head, "lr": config.head_learning_rate or config.learning_rate},
    ]
    optimizer = torch.optim.AdamW(
        param_groups,
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(len(batches) * config.warmup_ratio), len(batches))
    start_step = 0
    if checkpoint is not None:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        start_step = int(state["step"])
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
        torch.set_rng_state(torch.load(checkpoint / "rng.pt", weights_only=True))
        logger.info("resuming from %s (step %d of %d)", checkpoint, start_step, len(batches))
    logger.info(
        "training %s: %d steps of %d groups x %d passages, loss=%s, lr=%g",
        config.base_model,
        len(batches),
        config.groups_per_batch,
        config.group_size,
        config.loss,
        config.learning_rate,
    )

    started = time.perf_counter()
    pairs_done = 0
    ema_loss = math.nan
    step = start_step
    for step in range(start_step + 1, len(batches) + 1):
        batch = batches[step - 1]
        width = max(len(s.passages) for s in batch)
        queries = [s.query for s in batch for _ in s.passages]
        texts = [p for s in batch for p in s.passages]
        enc = tokenizer(
            queries, texts, padding=True, truncation=True, max_length=config.max_length, return_tensors="pt"
        )
        flat = model(**enc).logits.squeeze(-1)
        mask = torch.zeros(len(batch), width, dtype=torch.bool)
        labels = torch.zeros(len(batch), width)
        known = torch.zeros(len(batch), width, dtype=torch.bool)
        teacher = torch.zeros(len(batch), width) if all(s.teacher is not None for s in batch) else None
        offset = 0
        rows = []
        for row, s in enumerate(batch):
            n = len(s.passages)
            rows.append(flat[offset : offset + n])
            mask[row, :n] = True
            labels[row, :n] = torch.tensor(s.labels)
            known[row, :n] = s.has_labels
            if teacher is not None and s.teacher is not None:
                teacher[row, :n] = torch.tensor(s.teacher) * config.teacher_scale
            offset += n
        logits = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
        loss = compute_loss(
            config.loss,
            logits,
            mask,
            labels,
            known,
            teacher,
            max_grade=config.max_grade,
            temperature=config.temperature,
            label_weight=config.label_weight,
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        value = float(loss.detach())
        ema_loss = value if math.isnan(ema_loss) else 0.98 * ema_loss + 0.02 * value
        pairs_done += len(texts)
        if progress is not None:
            progress(step, len(batches), ema_loss)
        if step % config.log_steps == 0:
            elapsed = time.perf_counter() - started
            logger.info("step %d/%d loss %.4f (%.1f pairs/s)", step, len(batches), ema_loss, pairs_done / elapsed)
        if step % config.save_steps == 0 and step < len(batches):
            _save_checkpoint(model, tokenizer, optimizer, scheduler, output, step, config)
    _save_final(model, tokenizer, output, config, step, ema_loss)
    seconds = time.perf_counter() - started
    return TrainResult(output, step, pairs_done, seconds, ema_loss)


def _save_checkpoint(
    model: Any, tokenizer: Any, optimizer: Any, scheduler: Any, output: Path, step: int, config: TrainConfig
) -> None:
    import torch

    folder = output / "checkpoints" / f"step-{step}"
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(torch.get_rng_state(), tmp / "rng.pt")
    (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "config": asdict(config)}, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    logger.info("checkpoint saved: %s", folder)
    done = sorted(
        (p for p in folder.parent.iterdir() if p.name.startswith("step-") and not p.name.endswith(".tmp")),
        key=lambda p: int(p.name.split("-")[1]),
    )
    for old in done[: -config.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def _save_final(model: Any, tokenizer: Any, output: Path, config: TrainConfig, steps: int, loss: float) -> None:
    import torch

    model.eval()
    if config.save_dtype == "float16":
        model = model.to(torch.float16)
    model.config.id2label = {0: "LABEL_0"}
    model.config.label2id = {"LABEL_0": 0}
    model.save_pretrained(str(output))
    tokenizer.save_pretrained(str(output))
    (output / "training_args.json").write_text(
        json.dumps({**asdict(config), "steps": steps, "final_loss": loss}, indent=2)
    )
    (output / "trainer_state.json").write_text(json.dumps({"step": steps, "completed": True, "final_loss": loss}))
    logger.info("saved %s (%d steps, loss %.4f)", output, steps, loss)
