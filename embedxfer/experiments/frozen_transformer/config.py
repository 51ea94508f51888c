"""The frozen_transformer config: a checkpoint, non-language tasks, which parameter groups train, the conditions,
the optional unfreezing ladder and learning-rate sweep, and the paper's optimisation (Adam, constant lr, clip 1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field, require

#: The parameter groups, as `embedxfer.parts.GROUPS` (repeated so parsing a config never imports torch; tested
#: equal), in the order the ladder unfreezes them after the output layer.
GROUPS = ("input", "output", "layernorm", "positions", "attention", "mlp")
#: Named trainable sets: fpt is the paper's (Lu et al. 2021, section 3).
TRAINABLE_PRESETS = {
    "fpt": ("input", "output", "layernorm", "positions"),
    "output-only": ("output",),
    "full": GROUPS,
}
#: The conditions (public names; docs/architecture.md, "frozen_transformer").
CONDITIONS = ("pretrained", "random", "statistics-only", "scratch-full", "lstm")
#: The unfreezing ladder of the paper's Table 8: each rung adds groups to the one before.
LADDER = (("output",), ("layernorm",), ("input",), ("positions",), ("attention", "mlp"))


def expand_trainable(names: list[str]) -> tuple[str, ...]:
    """Groups and named sets (fpt, output-only, full) -> the groups, in GROUPS order."""
    chosen: set[str] = set()
    for name in names:
        if name in TRAINABLE_PRESETS:
            chosen.update(TRAINABLE_PRESETS[name])
        elif name in GROUPS:
            chosen.add(name)
        else:
            raise ConfigError(
                f"Field 'trainable': unknown {name!r}; use groups ({', '.join(GROUPS)}) or a named set "
                f"({', '.join(TRAINABLE_PRESETS)})."
            )
    return tuple(g for g in GROUPS if g in chosen)


def ladder_rungs() -> list[tuple[str, ...]]:
    """The trainable groups of each rung: output; output+layernorm; ...; everything."""
    rungs, so_far = [], []
    for step in LADDER:
        so_far += step
        rungs.append(tuple(so_far))
    return rungs


def ladder_name(groups: tuple[str, ...]) -> str:
    return "ladder:" + "+".join(groups)


@dataclass(kw_only=True)
class FrozenTransformerConfig(BaseConfig):
    """Train only some parameter groups of `checkpoint` (new input and output layers around it) on non-language
    tasks, against random, statistics-only, fully trained and LSTM baselines (Lu et al. 2021)."""

    kind = "frozen_transformer"

    checkpoint: str = config_field(
        "minilm-l6", help="Checkpoint id (see `embedxfer checkpoints`), folder or hub:org/name.", role="checkpoint"
    )
    task: str = config_field(
        "bit-xor",
        help="Task: a vector task (bit-xor, bit-memory, digits, ...) or a token task (listops); options after ?, "
        "e.g. bit-memory?n_bits=100&patch=10.",
        role="task",
    )
    tasks: list[str] = config_field(
        factory=list,
        help="Several tasks in one experiment (each a curve set); empty = just task.",
        role="tasks",
        empty="just task",
    )
    trainable: list[str] = config_field(
        factory=lambda: ["fpt"],
        help="Groups trained in the frozen conditions: any of input, output, layernorm, positions, attention, mlp, "
        "or a named set: fpt (input+output+layernorm+positions, the paper), output-only, full.",
        suggestions=(*TRAINABLE_PRESETS, *GROUPS),
    )
    conditions: list[str] = config_field(
        factory=lambda: list(CONDITIONS),
        choices=CONDITIONS,
        help="pretrained (frozen pretrained blocks), random (same architecture, random init, same freezing), "
        "statistics-only (noise with each pretrained tensor's mean and std), scratch-full (random init, everything "
        "trained), lstm (3-layer LSTM of the same width, all trained). Empty = none (ladder only).",
        empty="none (with ladder: the rungs only)",
    )
    ladder: bool = config_field(
        False,
        help="Also run the unfreezing ladder on the pretrained backbone: output, +layernorm, +input, +positions, "
        "+attention/mlp (conditions ladder:<groups>).",
    )
    steps: int = config_field(1000, help="Optimisation steps per trial (the paper trains to convergence).")
    lr: float = config_field(1e-3, help="Learning rate (the paper: Adam 1e-3, constant, no weight decay, clip 1.0).")
    lrs: list[float] = config_field(
        factory=list,
        help="A learning-rate sweep: every condition at each lr; the best per condition (final validation metric, "
        "mean over seeds) is picked and reported. Empty = just lr.",
        empty="just lr",
    )
    batch_size: int = config_field(16, help="Examples per optimisation step (the paper: 16).")
    eval_every: int = config_field(50, help="Validate every this many steps: the learning curves.")
    threshold: float | None = config_field(
        0.9,
        help="Validation metric whose first crossing is steps_to_threshold (compute efficiency); within the "
        "metric's range (accuracy: 0 to 1).",
        empty="no steps-to-threshold",
    )
    eval_size: int | None = config_field(
        1000, help="Cap on validation and test examples (a fixed subset); empty = all.", empty="all of them"
    )
    attention_examples: int = config_field(
        4, help="Test examples whose attention maps are stored after each pretrained trial (0 = none)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.checkpoint:
            raise ConfigError("Field 'checkpoint' must name a checkpoint; see `embedxfer checkpoints`.")
        require(self, positive=("steps", "lr", "batch_size", "eval_every", "eval_size"))
        if not self.trainable:
            raise ConfigError("Field 'trainable' is empty: name groups to train, e.g. [fpt] or [output, layernorm].")
        self.trainable = list(expand_trainable(self.trainable))
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad:
            raise ConfigError(f"Field 'conditions': unknown {bad[0]!r}; conditions: {', '.join(CONDITIONS)}.")
        if len(set(self.conditions)) != len(self.conditions):
            raise ConfigError(f"Field 'conditions' has duplicates: {self.conditions}.")
        if not self.conditions and not self.ladder:
            raise ConfigError("Field 'conditions' is empty and ladder is off: nothing to run; pick conditions.")
        bad_lrs = [lr for lr in self.lrs if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0)]
        if bad_lrs:
            raise ConfigError(f"Field 'lrs' must hold positive learning rates, got {bad_lrs[0]!r} in {self.lrs}.")
        if len(set(self.lrs)) != len(self.lrs):
            raise ConfigError(f"Field 'lrs' has duplicates: {self.lrs}.")
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"Field 'tasks' has duplicates: {self.tasks}.")
        if self.tasks:
            self.task = self.tasks[0]  # captions and the primary metric read `task`
        if self.attention_examples < 0:
            raise ConfigError(f"Field 'attention_examples' must be 0 or more, got {self.attention_examples}.")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ConfigError(f"Field 'threshold' must be a number, got {self.threshold}.")

    def task_list(self) -> list[str]:
        """The tasks, in the order given."""
        return list(self.tasks) or [self.task]

    def lr_list(self) -> list[float]:
        """The learning rates every condition runs at."""
        return [float(lr) for lr in self.lrs] or [float(self.lr)]
