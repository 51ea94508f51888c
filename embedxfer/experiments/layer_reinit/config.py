"""The layer_reinit config: a checkpoint, a task, a reinitialization scheme over train sizes, and finetuning."""

from __future__ import annotations

from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field, require
from embedxfer.experiments.layer_reinit.schemes import SCHEMES

#: Inits of `embedxfer.parts.reinit_layers`, repeated so parsing a config never imports torch (tested equal).
INITS = ("normal-0.02", "paper-code", "module-default")
#: Poolings of `embedxfer.heads.pool` for the finetuning head; probing trials read the same pooling.
POOLINGS = ("mean", "cls", "last")


@dataclass(kw_only=True)
class LayerReinitConfig(BaseConfig):
    """Reinitialize blocks of `checkpoint` per `scheme`, finetune the whole model on `task` at each train size, and
    (with `probe`) probe every layer of the pretrained checkpoint on the same task and sizes."""

    kind = "layer_reinit"

    checkpoint: str = config_field(
        "minilm-l6", help="Checkpoint id (see `embedxfer checkpoints`), folder or hub:org/name.", role="checkpoint"
    )
    train_sizes: list[int | None] = config_field(
        factory=list,
        help="Finetuning train sizes, each a curve; null = all (the paper: 500, 5000, 50000, null); "
        "empty = [train_size].",
        empty="just train_size",
    )
    scheme: str = config_field(
        "progressive",
        choices=SCHEMES,
        help="progressive: keep the bottom k blocks, reinit the rest, every k; progressive-bottom: reinit the "
        "bottom k; localized: a block of block_width layers at each start; localized-inverse: all but that block; "
        "scramble: permute the blocks.",
    )
    block_width: int = config_field(2, help="Layers per block in the localized schemes (the paper: 3 of 12).")
    permutations: int = config_field(3, help="Scramble: how many random layer orders (the paper: 10).")
    init: str = config_field(
        "normal-0.02",
        choices=INITS,
        help="normal-0.02: N(0, 0.02) as the paper describes; paper-code: the paper's code (std ~4.6e-4); "
        "module-default: each layer's own reset.",
    )
    keep_layernorm: bool = config_field(False, help="Keep pretrained layer norms in reinitialized blocks.")
    reinit_embeddings: bool = config_field(False, help="Also reinitialize the embeddings (never in the paper).")
    reinit_lr_multiplier: float = config_field(
        1.0, help="Learning-rate factor on reinitialized parameters (the paper's ablation: 5)."
    )
    probe: bool = config_field(
        True, help="Also probe every layer of the pretrained checkpoint (logistic, shuffled-label control)."
    )
    epochs: float = config_field(3.0, help="Finetuning passes over the training examples.")
    lr: float = config_field(2e-5, help="Peak learning rate (AdamW, no warmup, linear decay, clip 1.0).")
    batch_size: int = config_field(8, help="Examples per optimisation step.")
    max_length: int = config_field(128, help="Tokens per example after truncation.")
    pooling: str = config_field("mean", choices=POOLINGS, help="How token states become one vector for the head.")
    eval_size: int | None = config_field(
        1000, help="Cap on validation/test examples (a fixed subset); empty = all.", empty="all of them"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.checkpoint:
            raise ConfigError("Field 'checkpoint' must name a checkpoint; see `embedxfer checkpoints`.")
        require(
            self,
            positive=("block_width", "permutations", "epochs", "lr", "reinit_lr_multiplier", "batch_size", "eval_size"),
            choices=("scheme", "init", "pooling"),
        )
        if any(size is not None and size < 1 for size in self.train_sizes):
            raise ConfigError(f"Field 'train_sizes' must hold positive numbers, got {self.train_sizes}.")
        if len(set(self.train_sizes)) != len(self.train_sizes):
            raise ConfigError(f"Field 'train_sizes' has duplicates: {self.train_sizes}.")
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")

    def sizes(self) -> list[int | None]:
        """The train sizes the curves are drawn for, in the order given (None: all training examples)."""
        return list(self.train_sizes) or [self.train_size]
