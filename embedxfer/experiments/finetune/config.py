"""The finetune config: a checkpoint, a task, freeze settings compared as conditions, and training settings."""

from __future__ import annotations

from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field

#: Poolings of `embedxfer.heads.pool`, repeated here so parsing a config never imports torch (tested equal).
POOLINGS = ("mean", "cls", "last")


@dataclass(kw_only=True)
class FinetuneConfig(BaseConfig):
    """Finetune `checkpoint` on `task`; one condition per freeze setting, one trial per seed."""

    kind = "finetune"

    checkpoint: str = config_field(
        "minilm-l3", help="Checkpoint id (see `embedxfer checkpoints`), folder or hub:org/name.", role="checkpoint"
    )
    freeze: list[str] = config_field(
        factory=list,
        help="Parts or groups kept frozen, e.g. embed.tokens, layers.0.attn, attention, mlp; empty = train all.",
        role="parts",
    )
    freeze_variants: list[list[str]] = config_field(
        factory=list,
        help="Extra freeze settings, each compared as its own condition next to `freeze`.",
        role="parts",
    )
    epochs: float = config_field(3.0, help="Passes over the training examples.")
    lr: float = config_field(2e-5, help="Peak learning rate (AdamW, linear decay).")
    batch_size: int = config_field(8, help="Examples per optimisation step.")
    max_length: int = config_field(128, help="Tokens per example after truncation.")
    pooling: str = config_field("mean", choices=POOLINGS, help="How token states become one vector for the head.")
    weight_decay: float = config_field(0.0, help="AdamW weight decay.")
    eval_every: int | None = config_field(
        None, help="Validate every this many steps; empty = only at the end.", empty="only at the end"
    )
    eval_size: int | None = config_field(
        1000, help="Cap on validation/test examples (a fixed subset); empty = all.", empty="all of them"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.checkpoint:
            raise ConfigError("Field 'checkpoint' must name a checkpoint; see `embedxfer checkpoints`.")
        if self.epochs <= 0:
            raise ConfigError(f"Field 'epochs' must be positive, got {self.epochs}.")
        if self.lr <= 0:
            raise ConfigError(f"Field 'lr' must be positive, got {self.lr}.")
        if self.batch_size < 1:
            raise ConfigError(f"Field 'batch_size' must be at least 1, got {self.batch_size}.")
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"Field 'pooling' must be one of {', '.join(POOLINGS)}, got {self.pooling!r}.")
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError(f"Field 'eval_every' must be at least 1 or empty, got {self.eval_every}.")
        if self.eval_size is not None and self.eval_size < 1:
            raise ConfigError(f"Field 'eval_size' must be at least 1 or empty, got {self.eval_size}.")

    def freeze_settings(self) -> list[list[str]]:
        settings = [list(self.freeze)] + [list(v) for v in self.freeze_variants]
        unique: list[list[str]] = []
        for s in settings:
            if s not in unique:
                unique.append(s)
        return unique
