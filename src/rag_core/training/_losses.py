"""Losses for cross-encoder training, on a (groups, passages) matrix of logits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

__all__ = ["LossName", "compute_loss"]

LossName = Literal["bce", "listwise", "margin_mse", "mse"]


def compute_loss(
    name: LossName,
    logits: torch.Tensor,
    mask: torch.Tensor,
    labels: torch.Tensor,
    label_known: torch.Tensor,
    teacher: torch.Tensor | None,
    *,
    max_grade: float = 3.0,
    temperature: float = 1.0,
    label_weight: float = 0.5,
) -> torch.Tensor:
    """The training loss.

    * ``bce``: pointwise binary cross-entropy against ``labels / max_grade``.
    * ``listwise``: KL divergence between the model's softmax over each group and a target
      distribution: the teacher's ``softmax(teacher / temperature)`` mixed (``label_weight``)
      with the labels' ``softmax(grade)`` where the group is judged.
    * ``margin_mse``: every pair of passages in a group; MSE between the model's score margin
      and the teacher's.
    * ``mse``: pointwise MSE between the model's logit and the teacher's (absolute scores carry
      query dependence: every passage of a query with no good answer is low).

    ``mask`` marks real entries (groups may be shorter than the widest one).
    """
    import torch
    import torch.nn.functional as F

    if name == "bce":
        targets = (labels / max_grade).clamp(0.0, 1.0)
        per_item = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        return (per_item * mask).sum() / mask.sum().clamp(min=1)
    neg_inf = torch.finfo(logits.dtype).min
    if name == "listwise":
        log_probs = F.log_softmax(logits.masked_fill(~mask, neg_inf), dim=-1)
        label_target = F.softmax(labels.masked_fill(~mask, neg_inf), dim=-1)
        if teacher is not None:
            target = F.softmax((teacher / temperature).masked_fill(~mask, neg_inf), dim=-1)
            judged = label_known.any(dim=-1, keepdim=True)
            target = torch.where(judged, (1 - label_weight) * target + label_weight * label_target, target)
        else:
            target = label_target
        kl = target * (torch.log(target.clamp(min=1e-12)) - log_probs)
        return (kl * mask).sum(dim=-1).mean()
    if name == "mse":
        if teacher is None:
            raise ValueError("mse needs teacher scores")
        return (((logits - teacher) ** 2) * mask).sum() / mask.sum().clamp(min=1)
    if name == "margin_mse":
        if teacher is None:
            raise ValueError("margin_mse needs teacher scores")
        student = logits.unsqueeze(-1) - logits.unsqueeze(-2)
        target = teacher.unsqueeze(-1) - teacher.unsqueeze(-2)
        pair_mask = (mask.unsqueeze(-1) & mask.unsqueeze(-2)).float()
        return (((student - target) ** 2) * pair_mask).sum() / pair_mask.sum().clamp(min=1)
    raise ValueError(f"unknown loss {name!r}")
