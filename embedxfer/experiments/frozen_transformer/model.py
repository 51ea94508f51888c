"""The FPT model (Lu et al. 2021, section 3): a new input layer, a backbone whose blocks may be frozen, and a new
linear output layer on the last tokens; the backbones of each condition; and which groups train.

- Vector inputs enter through `inputs_embeds` via a new Linear (orthogonal init, gain 1.41, zero bias, dropout
  0.1, as the paper's code); token tasks through a new Embedding table. The backbone's own token table (and a bert
  pooler) is never read, so it is always frozen and never counted as trainable.
- Backbones without position parameters (llama: rotary) keep an all-zero input vector exactly zero through every
  block (no biases, nothing added), and each RMSNorm's backward multiplies its gradient by 1/sqrt(eps), ~316: on
  smollm2-135m's 60 norms a zero first token (a 0 bit, a blank corner patch) overflowed to NaN at the first step.
  For those backbones the input bias starts at N(0, 0.02) instead of the paper's 0 (`INPUT_BIAS_STD`).
- The output layer reads the last `output_tokens` tokens for per-position labels (bit tasks), else the last real
  token: what a causal backbone has seen everything at.
- The attribute names `backbone`, `input_proj` / `input_embed` and `head` are what `embedxfer.parts.param_groups`
  sorts into the groups input / output, so the trainable sets are the parts module's groups.
"""

from __future__ import annotations

import copy
import inspect
from types import SimpleNamespace

import torch
from torch import nn

from embedxfer.errors import ConfigError
from embedxfer.heads import OutputSpec

INPUT_GAIN = 1.41
INPUT_DROPOUT = 0.1
INPUT_BIAS_STD = 0.02
LSTM_LAYERS = 3


class FPTModel(nn.Module):
    """input layer -> backbone (inputs_embeds) -> linear output layer on the last tokens."""

    def __init__(
        self,
        backbone: nn.Module,
        hidden: int,
        output: OutputSpec,
        *,
        input_dim: int | None,
        vocab: int | None,
        bias_std: float = 0.0,
    ) -> None:
        super().__init__()
        require_inputs_embeds(backbone)
        self.backbone = backbone
        self.output = output
        if input_dim:
            self.input_proj = nn.Linear(input_dim, hidden)
            nn.init.orthogonal_(self.input_proj.weight, gain=INPUT_GAIN)
            nn.init.normal_(self.input_proj.bias, std=bias_std) if bias_std else nn.init.zeros_(self.input_proj.bias)
        elif vocab:
            self.input_embed = nn.Embedding(vocab, hidden)
        else:
            raise ValueError("an FPT model needs input_dim (vector tasks) or vocab (token tasks)")
        self.input_dropout = nn.Dropout(INPUT_DROPOUT)
        self.head = nn.Linear(hidden, (output.positions // output.output_tokens) * output.classes)

    def embed(self, input_ids=None, inputs=None) -> torch.Tensor:
        if inputs is not None:
            return self.input_dropout(self.input_proj(inputs))
        return self.input_dropout(self.input_embed(input_ids))

    def forward(self, input_ids=None, attention_mask=None, inputs=None) -> torch.Tensor:
        embeds = self.embed(input_ids, inputs)
        if attention_mask is None:
            attention_mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        hidden = self.backbone(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        out = self.output
        if out.positions > 1:
            logits = self.head(hidden[:, -out.output_tokens :])  # (batch, output_tokens, per_token * classes)
            return logits.reshape(hidden.shape[0], out.positions, out.classes)
        last = attention_mask.long().sum(1).clamp(min=1) - 1  # the last real token (right padding)
        logits = self.head(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
        return logits.squeeze(-1) if out.classes == 1 else logits


class LSTMBackbone(nn.Module):
    """The paper's LSTM baseline as a backbone: a unidirectional 3-layer LSTM of the transformer's width, taking
    `inputs_embeds` like a transformer and returning every position's state (so the same head reads its last
    tokens). Padding sits on the right, so a real token's state never saw padding."""

    def __init__(self, hidden: int, layers: int = LSTM_LAYERS) -> None:
        super().__init__()
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None) -> SimpleNamespace:
        states, _ = self.lstm(inputs_embeds)
        return SimpleNamespace(last_hidden_state=states)


def require_inputs_embeds(backbone: nn.Module) -> None:
    """Refuse a backbone whose forward takes no `inputs_embeds`: FPT's input layer has no way in."""
    if "inputs_embeds" not in inspect.signature(backbone.forward).parameters:
        raise ConfigError(
            f"The backbone {type(backbone).__name__} takes no inputs_embeds, so a new input layer cannot feed it; "
            "frozen_transformer needs a checkpoint whose model takes inputs_embeds (every family with a part map does)."
        )


def random_backbone(pretrained: nn.Module, seed: int) -> nn.Module:
    """The same architecture freshly initialised by its own init (transformers' `_init_weights`), seeded."""
    torch.manual_seed(seed)
    return type(pretrained)(copy.deepcopy(pretrained.config)).eval()


def statistics_only_backbone(pretrained: nn.Module, seed: int) -> nn.Module:
    """Every tensor replaced by Gaussian noise standardised, then rescaled to that pretrained tensor's own mean and
    std exactly (a one-element tensor keeps its value): the weights' scale without any of their structure."""
    generator = torch.Generator().manual_seed(seed)
    backbone = copy.deepcopy(pretrained)
    with torch.no_grad():
        for param in backbone.parameters():
            source = param.detach().double()
            if param.numel() < 2:
                continue
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float64)
            noise = (noise - noise.mean()) / noise.std()
            param.copy_(source.mean() + source.std() * noise)
    return backbone


def set_trainable(model: FPTModel, groups: list[str]) -> dict[str, int]:
    """Train exactly `groups` (of embedxfer.parts.GROUPS); freeze the rest and the unused token table. Returns
    {group: trainable parameters}, 0 where the group has no parameters in this family (llama: positions)."""
    from embedxfer.parts import GROUPS, param_groups

    members = param_groups(model)
    unused = _unused(model)
    counts = {}
    for group in GROUPS:
        train = group in groups
        count = 0
        for param in members[group]:
            wanted = train and id(param) not in unused
            param.requires_grad_(wanted)
            count += param.numel() if wanted else 0
        counts[group] = count
    return counts


def _unused(model: FPTModel) -> set[int]:
    """ids of the backbone parameters the FPT model never reads: the token table and a bert pooler."""
    from embedxfer.parts import get_part, part_names

    present = [name for name in ("embed.tokens", "pooler") if name in part_names(model)]
    return {id(p) for name in present for p in get_part(model, name).values()}


def group_sizes(model: FPTModel) -> dict[str, int]:
    """{group: parameters in it}, the parts it never reads (token table, pooler) left out."""
    from embedxfer.parts import param_groups

    unused = _unused(model)
    return {
        group: sum(p.numel() for p in params if id(p) not in unused) for group, params in param_groups(model).items()
    }
