"""Task heads around a backbone, and the losses and metrics that go with a task's label kind.

`SequenceModel` = optional input projection (vector inputs) + backbone + pooling + linear head.
The attribute names `backbone`, `input_proj` and `head` are what `embedxfer.parts.param_groups`
recognises, so freezing presets work on wrapped models too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

POOLINGS = ("mean", "cls", "last")


@dataclass(frozen=True)
class OutputSpec:
    """What the head predicts: `positions` labels of `classes` classes each (classes=1: regression)."""

    classes: int
    positions: int = 1
    #: how many final tokens the head reads when positions > 1 (FPT reads the last tokens)
    output_tokens: int = 1

    def __post_init__(self) -> None:
        if self.positions % self.output_tokens:
            raise ValueError(f"{self.positions} output positions cannot be split over {self.output_tokens} tokens")

    @classmethod
    def for_task(cls, task) -> OutputSpec:
        classes = task.num_classes if task.label_kind == "classes" else 1
        positions = task.train.labels.shape[1] if task.train.labels.ndim == 2 else 1
        return cls(classes=int(classes), positions=int(positions), output_tokens=int(task.output_tokens))


class SequenceModel(nn.Module):
    """backbone (a Hugging Face base model) + pooled linear head."""

    def __init__(
        self,
        backbone: nn.Module,
        hidden_size: int,
        output: OutputSpec,
        *,
        pooling: str = "mean",
        input_dim: int | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.backbone = backbone
        self.output = output
        self.pooling = pooling
        # Vector inputs enter through inputs_embeds via a new linear layer (FPT's input layer).
        self.input_proj = nn.Linear(input_dim, hidden_size) if input_dim else None
        self.dropout = nn.Dropout(dropout)
        per_token = output.positions // output.output_tokens
        self.head = nn.Linear(hidden_size, per_token * output.classes)

    def forward(self, input_ids=None, attention_mask=None, inputs=None) -> torch.Tensor:
        if inputs is not None:
            embeds = self.input_proj(inputs)  # (batch, seq, hidden)
            attention_mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
            hidden = self.backbone(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        else:
            hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head_logits(hidden, attention_mask)

    def head_logits(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits (batch, classes), or (batch, positions, classes) for per-position labels."""
        out = self.output
        if out.positions > 1:
            last = hidden[:, -out.output_tokens :]  # (batch, output_tokens, hidden)
            logits = self.head(self.dropout(last))  # (batch, output_tokens, per_token * classes)
            return logits.reshape(hidden.shape[0], out.positions, out.classes)
        pooled = pool(hidden, attention_mask, self.pooling)
        logits = self.head(self.dropout(pooled))
        return logits.squeeze(-1) if out.classes == 1 else logits


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, seq, hidden) -> (batch, hidden)."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (batch, seq, 1)
    if pooling == "mean":
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    # last non-padding token (right padding)
    last = attention_mask.long().sum(1).clamp(min=1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def task_loss(logits: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Cross-entropy for classes (any number of positions), MSE for regression."""
    if classes == 1:
        return nn.functional.mse_loss(logits.float(), labels.float())
    return nn.functional.cross_entropy(logits.float().reshape(-1, classes), labels.long().reshape(-1))


def predictions(logits: torch.Tensor, classes: int) -> torch.Tensor:
    return logits.float() if classes == 1 else logits.argmax(-1)


def task_metric(metric: str, preds: np.ndarray, labels: np.ndarray) -> float:
    """accuracy (per position for multi-position labels) or pearson correlation."""
    if metric == "accuracy":
        return float((preds == labels).mean())
    if metric == "pearson":
        if preds.std() == 0 or labels.std() == 0:
            return 0.0
        return float(np.corrcoef(preds.reshape(-1), labels.reshape(-1))[0, 1])
    raise ValueError(f"unknown metric {metric!r}")


def task_scores(predicted: np.ndarray, labels: np.ndarray, metric: str) -> dict[str, float]:
    """The task's metric, plus for classes macro-F1 and the majority-class rate of `labels` (on an imbalanced task,
    such as tweets-binary at 73% negative, accuracy alone cannot tell a model from always answering the majority)."""
    out = {metric: task_metric(metric, predicted, labels)}
    if metric == "accuracy":
        from sklearn.metrics import f1_score

        out["macro_f1"] = float(f1_score(labels.reshape(-1), predicted.reshape(-1), average="macro", zero_division=0))
        out["majority_rate"] = majority_rate(labels)
    return out


def majority_rate(labels: np.ndarray) -> float:
    """How often the most common class occurs: the accuracy of always answering it."""
    flat = np.asarray(labels).reshape(-1).astype(np.int64)
    return float(np.bincount(flat).max() / flat.size)
