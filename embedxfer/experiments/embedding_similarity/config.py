"""The embedding_similarity config: two or more checkpoints, compared pair by pair over their shared vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field


@dataclass(kw_only=True)
class EmbeddingSimilarityConfig(BaseConfig):
    """Linear CKA, kNN overlap@k and the Procrustes residual of every pair of `checkpoints`' token embeddings."""

    kind = "embedding_similarity"

    checkpoints: list[str] = config_field(
        factory=lambda: ["minilm-l6", "minilm-l3", "smollm2-135m"],
        help="Two or more checkpoints; every pair is compared over the tokens both have.",
        role="checkpoints",
    )
    k: int = config_field(10, help="Neighbours per token for kNN overlap@k (cosine on the full width).")
    seeds: list[int] = config_field(
        factory=lambda: [0], help="Seeds of the shuffled-rows reference (the measures themselves are exact)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.checkpoints) < 2:
            raise ConfigError(f"Field 'checkpoints' needs at least two checkpoints to compare, got {self.checkpoints}.")
        if len(set(self.checkpoints)) != len(self.checkpoints):
            raise ConfigError(f"Field 'checkpoints' has duplicates: {self.checkpoints}.")
        if self.k < 1:
            raise ConfigError(f"Field 'k' must be at least 1, got {self.k}.")
