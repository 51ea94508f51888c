"""The embedding_map config: one or two checkpoints' token-embedding matrices, projected to 2-D."""

from __future__ import annotations

from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import config_field
from embedxfer.experiments.projection_fields import ProjectionConfig


@dataclass(kw_only=True)
class EmbeddingMapConfig(ProjectionConfig):
    """A 2-D map of every token-embedding row of each checkpoint (two: their shared vocabulary, aligned by text)."""

    kind = "embedding_map"

    checkpoints: list[str] = config_field(
        factory=lambda: ["minilm-l6", "minilm-l3"],
        help="One checkpoint, or two drawn side by side on their shared vocabulary.",
        role="checkpoints",
    )
    rows: int | str = config_field(
        "all", help="all (default: every row, no cap) or a number of rows drawn at random (the same rows each seed)."
    )
    task: str = config_field(
        "tweets-binary", help="Task whose training texts give the 'frequency in a task' colouring.", role="task"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= len(self.checkpoints) <= 2:
            raise ConfigError(
                f"Field 'checkpoints' takes one or two checkpoints (two are drawn side by side), got "
                f"{len(self.checkpoints)}; compare more with kind embedding_similarity."
            )
        if len(set(self.checkpoints)) != len(self.checkpoints):
            raise ConfigError(f"Field 'checkpoints' has duplicates: {self.checkpoints}.")
        if isinstance(self.rows, str) and self.rows != "all":
            raise ConfigError(f"Field 'rows' must be all or a number of rows, got {self.rows!r}.")
        if isinstance(self.rows, int) and self.rows < 3:
            raise ConfigError(f"Field 'rows' must be at least 3 (a map needs points), got {self.rows}.")
