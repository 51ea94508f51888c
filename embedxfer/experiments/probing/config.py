"""The probing config: checkpoints, a text task, how layer states are pooled and probed, and the control."""

from __future__ import annotations

from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field, require

#: `embedxfer.features.FEATURE_POOLINGS` and `embedxfer.probes.PROBES` / `CONTROLS`, repeated so parsing a config
#: imports neither numpy-heavy module (tested equal).
POOLINGS = ("mean", "first", "last")
PROBES = ("logistic", "mlp")
CONTROLS = ("shuffled-labels", "none")


@dataclass(kw_only=True)
class ProbingConfig(BaseConfig):
    """Probe every layer (0 = embedding output, L = last block) of each checkpoint on `task`, per seed."""

    kind = "probing"

    checkpoints: list[str] = config_field(
        factory=lambda: ["minilm-l6"], help="Checkpoints to probe, one curve each.", role="checkpoints"
    )
    pooling: str = config_field("mean", choices=POOLINGS, help="mean over real tokens, the first token, or the last.")
    probe: str = config_field(
        "logistic",
        choices=PROBES,
        help="logistic: L2 logistic regression, strength by 3-fold CV on the train split; mlp: 256 hidden units.",
    )
    control: str = config_field(
        "shuffled-labels",
        choices=CONTROLS,
        help="shuffled-labels: the same probe on shuffled train labels; selectivity = metric - control metric.",
    )
    max_length: int = config_field(128, help="Tokens per example after truncation.")
    eval_size: int | None = config_field(
        1000, help="Test examples scored (a fixed subset); empty = the whole test split.", empty="all of them"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.checkpoints:
            raise ConfigError("Field 'checkpoints' must list at least one checkpoint, e.g. [minilm-l6].")
        if len(set(self.checkpoints)) != len(self.checkpoints):
            raise ConfigError(f"Field 'checkpoints' has duplicates: {self.checkpoints}.")
        require(self, positive=("eval_size",), choices=("pooling", "probe", "control"))
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")
