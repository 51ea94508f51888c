"""The target modules: an embedding table (frozen or trainable) under a freshly initialised body and linear head.

`TokenScorer.forward(input_ids, attention_mask)` takes right-padded batches as `embedxfer.data.collate` builds
them and returns logits for the task's `OutputSpec`, so the engine trains and evaluates it like any other model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from torch.nn.utils.rnn import pack_padded_sequence

from embedxfer.errors import ConfigError
from embedxfer.heads import OutputSpec
from embedxfer.targets.spec import TargetSpec


class TokenScorer(nn.Module):
    """embedding table -> body -> linear head."""

    def __init__(self, table: torch.Tensor, body: nn.Module, output: OutputSpec, *, trainable: bool) -> None:
        super().__init__()
        if output.positions != 1:
            raise ConfigError("Scoring targets predict one label per example; this task labels several positions.")
        self.embed = nn.Embedding.from_pretrained(table, freeze=not trainable)
        self.body = body
        self.output = output
        self.head = nn.Linear(body.out_features, output.classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.body(self.embed(input_ids), attention_mask.bool()))
        return logits.squeeze(-1) if self.output.classes == 1 else logits


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class TransformerBody(nn.Module):
    def __init__(self, width: int, max_length: int, *, layers: int, heads: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.positions = nn.Embedding(max_length, width)
        nn.init.normal_(self.positions.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(
            width,
            heads,
            dim_feedforward=ffn * width,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)  # pre-norm layers leave the residual stream unnormalised
        self.out_features = width

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        hidden = self.encoder(x + self.positions(positions), src_key_padding_mask=~mask)
        return _masked_mean(self.norm(hidden), mask)


class LSTMBody(nn.Module):
    def __init__(self, width: int, *, layers: int, hidden: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            width,
            hidden,
            num_layers=layers,
            bidirectional=bidirectional,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.directions = 2 if bidirectional else 1
        self.out_features = hidden * self.directions

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Packing makes the backward direction start at each example's last real token, not at the padding.
        lengths = mask.sum(1).clamp(min=1).cpu()
        _, (h_n, _) = self.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return self.dropout(torch.cat(list(h_n[-self.directions :]), dim=-1))


class CNNBody(nn.Module):
    def __init__(self, width: int, *, kernels: tuple[int, ...], channels: int, dropout: float) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(width, channels, k) for k in kernels)
        self.widest = max(kernels)
        self.dropout = nn.Dropout(dropout)
        self.out_features = channels * len(kernels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Positions past an example's end read as zeros (not the pad token's row), and widest-1 zeros follow every
        # batch, so each window that starts on a real token exists and sees the same input whatever the batch's
        # padded length (a batch of one gives the same scores as the same example in a longer batch).
        x = functional.pad(x * mask.unsqueeze(-1).to(x.dtype), (0, 0, 0, self.widest - 1))
        mask = functional.pad(mask, (0, self.widest - 1))
        x = x.transpose(1, 2)  # (batch, width, seq)
        pooled = []
        for conv in self.convs:
            out = torch.relu(conv(x))  # (batch, channels, seq - k + 1)
            starts_on_token = mask[:, : out.shape[2]].unsqueeze(1)  # the first window always does
            pooled.append(out.masked_fill(~starts_on_token, float("-inf")).amax(dim=2))
        return self.dropout(torch.cat(pooled, dim=1))


class BagBody(nn.Module):
    def __init__(self, width: int, *, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        size = width
        for _ in range(layers):
            blocks += [nn.Linear(size, hidden), nn.ReLU(), nn.Dropout(dropout)]
            size = hidden
        self.mlp = nn.Sequential(*blocks)
        self.out_features = size

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.mlp(_masked_mean(x, mask))


def build_body(spec: TargetSpec, width: int, max_length: int) -> nn.Module:
    options = dict(spec.options)
    if spec.name == "transformer":
        return TransformerBody(width, max_length, **options)
    if spec.name == "lstm":
        return LSTMBody(width, **options)
    if spec.name == "cnn":
        return CNNBody(width, **options)
    return BagBody(width, **options)


def build_scorer(
    spec: TargetSpec, embedding: np.ndarray | torch.Tensor, output: OutputSpec, *, max_length: int, trainable: bool
) -> TokenScorer:
    """A scorer over a copy of `embedding` (row i = token id i), frozen unless `trainable`; the body and head are
    initialised from torch's current RNG state (the caller seeds it)."""
    table = torch.as_tensor(np.asarray(embedding), dtype=torch.float32).clone()
    return TokenScorer(table, build_body(spec, table.shape[1], max_length), output, trainable=trainable)


def scorer_parameters(spec: TargetSpec, width: int, output: OutputSpec, max_length: int) -> int:
    """Parameters of body + head (the embedding table not counted), built on the meta device: nothing allocated."""
    with torch.device("meta"):
        body = build_body(spec, width, max_length)
        head = nn.Linear(body.out_features, output.classes)
    return sum(p.numel() for p in [*body.parameters(), *head.parameters()])
