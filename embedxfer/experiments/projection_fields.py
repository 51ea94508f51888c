"""Config fields shared by the kinds that draw 2-D maps (`embedding_map`, `layer_map`): the projection method and
its main parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field, require

#: `embedxfer.analysis.projection.METHODS` / `UMAP_METRICS`, repeated so parsing a config imports no numpy
#: (tested equal).
METHODS = ("pca", "umap", "tsne")
UMAP_METRICS = ("euclidean", "cosine", "manhattan", "correlation")


@dataclass(kw_only=True)
class ProjectionConfig(BaseConfig):
    """A map kind's projection: the method and its main parameters (the others keep the libraries' defaults)."""

    method: str = config_field(
        "umap", choices=METHODS, help="pca (instant, linear), umap (neighbourhoods; default) or tsne (slowest)."
    )
    n_neighbors: int = config_field(15, help="UMAP: neighbours per point; larger = more global structure.")
    min_dist: float = config_field(0.1, help="UMAP: how tightly points may pack (0-1).")
    metric: str = config_field("euclidean", choices=UMAP_METRICS, help="UMAP: distance between rows.")
    perplexity: float = config_field(30.0, help="t-SNE: effective neighbours per point; must be below the rows.")
    seeds: list[int] = config_field(factory=lambda: [0], help="Projection seeds; one map per seed.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, positive=("n_neighbors", "perplexity"), choices=("method", "metric"))
        if self.n_neighbors < 2:
            raise ConfigError(f"Field 'n_neighbors' must be at least 2, got {self.n_neighbors}.")
        if not 0.0 <= self.min_dist <= 1.0:
            raise ConfigError(f"Field 'min_dist' must be between 0 and 1, got {self.min_dist}.")

    def projection_params(self) -> dict[str, Any]:
        """The parameters `method` uses (what the projection cache is keyed by)."""
        if self.method == "umap":
            return {"n_neighbors": self.n_neighbors, "min_dist": self.min_dist, "metric": self.metric}
        if self.method == "tsne":
            return {"perplexity": self.perplexity}
        return {}

    def method_label(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.projection_params().items())
        return f"{self.method}({params})" if params else self.method
