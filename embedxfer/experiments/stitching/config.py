"""The stitching config: A feeding B, which layer pairs to stitch, the task, and how the stitch and head train."""

from __future__ import annotations

import re
from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field, require

#: `pairs` as text: every hidden state of A against B's layer at the same relative depth, or the best pairs of a
#: layer_similarity experiment
DEPTH = "depth"
BEST_PREFIX = "best:"
_BEST = re.compile(r"^best:(\S+)$")


def check_pairs_value(pairs: str | list[list[int]]) -> None:
    """ConfigError unless `pairs` is `depth`, `best:<experiment id>` or a list of [i, j] pairs of hidden-state
    indices; whether each pair lies inside both models' depth is checked when the plan expands."""
    if isinstance(pairs, str):
        if pairs == DEPTH or _BEST.match(pairs):
            return
        raise ConfigError(
            f"Field 'pairs' must be depth, best:<layer_similarity experiment id> or a list of [i, j] pairs such as "
            f"[[2, 1], [4, 2]], got {pairs!r}."
        )
    if not pairs:
        raise ConfigError("Field 'pairs' lists no layer pairs; give at least one [i, j], or use depth.")
    for pair in pairs:
        if len(pair) != 2 or any(k < 0 for k in pair):
            raise ConfigError(
                f"Field 'pairs' must hold [i, j] pairs of hidden-state indices (0 = embedding output), got {pair}."
            )
    seen = [tuple(p) for p in pairs]
    if len(set(seen)) != len(seen):
        raise ConfigError(f"Field 'pairs' has duplicates: {pairs}.")


@dataclass(kw_only=True)
class StitchingConfig(BaseConfig):
    """Feed A's hidden state i through a trained affine stitch into B's block j onward, then a linear head on B's
    pooled last layer; only the stitch and the head train (Bansal et al. 2021; Csiszárik et al. 2021)."""

    kind = "stitching"

    checkpoints: list[str] = config_field(
        factory=lambda: ["minilm-l6", "minilm-l3"],
        help="[A, B]: A's bottom layers feed B's top layers; one id stitches a model into itself. Both must "
        "tokenize alike (token-level stitching).",
        role="checkpoints",
    )
    pairs: str | list[list[int]] = config_field(
        DEPTH,
        help="depth: each hidden state i of A (0 = embedding output) into B's layer at the same relative depth; "
        "a list of [i, j] pairs; or best:<id> to take the best pairs of a layer_similarity experiment.",
    )
    random_stitch: bool = config_field(
        True, help="Also run random-stitch per pair: a frozen random map of the right scale, only the head trained."
    )
    epochs: float = config_field(3.0, help="Passes over the training examples (stitch and head).")
    lr: float = config_field(1e-3, help="Peak learning rate of the stitch (AdamW, linear decay, clip 1.0).")
    head_lr: float = config_field(
        1e-2,
        help="Peak learning rate of the linear head, in every condition: high enough that the head alone converges "
        "in a short run, so a stitch cannot win merely by adding trainable capacity the head lacked.",
    )
    batch_size: int = config_field(32, help="Examples per optimisation step.")
    max_length: int = config_field(128, help="Tokens per example after truncation.")
    eval_size: int | None = config_field(
        1000, help="Cap on validation/test examples (a fixed subset); empty = all.", empty="all of them"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= len(self.checkpoints) <= 2 or not all(self.checkpoints):
            raise ConfigError(
                f"Field 'checkpoints' must be [A, B] (A feeds B) or one checkpoint to stitch into itself, got "
                f"{self.checkpoints}."
            )
        require(self, positive=("epochs", "lr", "head_lr", "batch_size", "eval_size"))
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")
        check_pairs_value(self.pairs)

    @property
    def checkpoint_a(self) -> str:
        return self.checkpoints[0]

    @property
    def checkpoint_b(self) -> str:
        """B: the second checkpoint, or A again when one checkpoint is stitched into itself."""
        return self.checkpoints[-1]

    @property
    def same_model(self) -> bool:
        return self.checkpoint_a == self.checkpoint_b
