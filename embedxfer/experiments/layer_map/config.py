"""The layer_map config: one checkpoint, a text task, the layers to draw and the projection."""

from __future__ import annotations

from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import config_field, require
from embedxfer.experiments.projection_fields import ProjectionConfig

#: `embedxfer.features.FEATURE_POOLINGS`, repeated so parsing imports no numpy (tested equal).
POOLINGS = ("mean", "first", "last")


@dataclass(kw_only=True)
class LayerMapConfig(ProjectionConfig):
    """Each layer's pooled sentence representation of `task`'s examples, projected to 2-D, coloured by label."""

    kind = "layer_map"

    checkpoint: str = config_field("minilm-l6", help="The checkpoint whose layers are drawn.", role="checkpoint")
    layers: list[int] | None = config_field(
        None, help="Layers to draw (0 = embedding output, L = last block); empty = all.", empty="every layer"
    )
    split: str = config_field("test", choices=("train", "val", "test"), help="The split whose examples are drawn.")
    examples: int | None = config_field(
        2000, help="Examples drawn (the split's first ones); empty = the whole split.", empty="the whole split"
    )
    pooling: str = config_field("mean", choices=POOLINGS, help="How a layer's token states become one vector.")
    max_length: int = config_field(128, help="Tokens per example after truncation.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, positive=("examples",), choices=("split", "pooling"))
        if self.layers is not None and (not self.layers or min(self.layers) < 0):
            raise ConfigError(f"Field 'layers' must list layer numbers from 0 up, or be empty, got {self.layers}.")
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")
