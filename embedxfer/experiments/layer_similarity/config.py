"""The layer_similarity config: one or two checkpoints, the task examples both read, the measures and their draws."""

from __future__ import annotations

from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field, require

#: `embedxfer.features.FEATURE_POOLINGS` and `measures.MEASURES`, repeated so parsing a config imports neither
#: (tested equal).
POOLINGS = ("mean", "first", "last")
MEASURES = ("cka", "mutual_knn", "procrustes")


@dataclass(kw_only=True)
class LayerSimilarityConfig(BaseConfig):
    """Every layer of A against every layer of B on the same examples, per measure, with a null and an interval."""

    kind = "layer_similarity"

    checkpoints: list[str] = config_field(
        factory=lambda: ["minilm-l6", "minilm-l3"],
        help="[A, B], or [A] for A against itself; random:<checkpoint> is its untrained twin (a reference).",
        role="checkpoints",
    )
    measures: list[str] = config_field(
        factory=lambda: list(MEASURES),
        choices=MEASURES,
        help="cka: debiased linear CKA; mutual_knn: mutual k-nearest-neighbour alignment; procrustes: orthogonal "
        "Procrustes distance after PCA to a common width (lower = more similar).",
    )
    rows: int = config_field(2000, help="Task examples both models read (the split's first ones), aligned by example.")
    split: str = config_field("train", choices=("train", "val", "test"), help="The split the examples come from.")
    pooling: str = config_field("mean", choices=POOLINGS, help="How a layer's token states become one vector.")
    max_length: int = config_field(64, help="Tokens per example after truncation.")
    k: int = config_field(10, help="Neighbours per example for mutual_knn.")
    pca_width: int | None = config_field(
        128,
        help="Common width for procrustes (each layer's first principal axes); capped by the narrower model; empty "
        "= the narrower model's width.",
        empty="the narrower width",
    )
    permutations: int = config_field(10, help="Null draws per cell: the measure with B's rows permuted.")
    bootstraps: int = config_field(50, help="Bootstrap resamples of the examples per cell, for the 95% interval.")
    seeds: list[int] = config_field(
        factory=lambda: [0],
        help="Seeds of the permutation and bootstrap draws, one trial per measure and seed; the observed values do "
        "not depend on them.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= len(self.checkpoints) <= 2:
            raise ConfigError(
                f"Field 'checkpoints' takes [A, B] or [A], got {len(self.checkpoints)} checkpoints: {self.checkpoints}."
            )
        unknown = [m for m in self.measures if m not in MEASURES]
        if not self.measures or unknown or len(set(self.measures)) != len(self.measures):
            raise ConfigError(
                f"Field 'measures' must list some of {', '.join(MEASURES)} once each, got {self.measures}."
            )
        require(self, positive=("rows", "k", "pca_width"), choices=("split", "pooling"))
        if self.rows < 10:
            raise ConfigError(f"Field 'rows' must be at least 10 examples, got {self.rows}.")
        if self.k >= self.rows:
            raise ConfigError(f"Field 'k' ({self.k}) must be smaller than 'rows' ({self.rows}).")
        if self.permutations < 0 or self.bootstraps < 0:
            raise ConfigError("Fields 'permutations' and 'bootstraps' must be 0 or more.")
        if self.bootstraps == 1:
            raise ConfigError("Field 'bootstraps' must be 0 (no interval) or at least 2.")
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")

    @property
    def pair(self) -> tuple[str, str]:
        """(A, B): B is A when one checkpoint is given."""
        return self.checkpoints[0], self.checkpoints[-1]
