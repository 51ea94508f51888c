"""embedding_map's figures: one checkpoint's token map, and two checkpoints' maps side by side (shared rows)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from embedxfer.errors import EmbedxferError
from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData


def read_maps(data: ExperimentData, seed: int | None = None) -> list[tuple[str, pd.DataFrame]]:
    """(checkpoint, map frame) of each completed trial of one seed (the first seed by default), config order."""
    import pandas as pd

    from embedxfer.experiments.embedding_map.trial import MAP_ARTIFACT

    done = data.completed()
    if done.empty:
        raise EmbedxferError(f"{data.experiment_id} has no finished map yet.")
    seed = int(done["seed"].min()) if seed is None else seed
    order = data.result["config"]["checkpoints"]
    rows = done[done["seed"] == seed].sort_values("condition", key=lambda s: s.map(order.index))
    return [
        (row.condition, pd.read_parquet(io.BytesIO(data.artifact(row.trial_id, MAP_ARTIFACT))))
        for row in rows.itertuples()
    ]


def _title(data: ExperimentData) -> str:
    config = data.result["config"]
    method = config["method"]
    return f"{data.experiment_id}: {method} map of the token embeddings"


def token_map(data: ExperimentData) -> go.Figure:
    from embedxfer.map_plots import plot_token_maps

    maps = read_maps(data)[:1]
    name, frame = maps[0]
    return plot_token_maps([(f"{name} ({len(frame):,} tokens)", frame)], title=_title(data))


def token_map_pair(data: ExperimentData) -> go.Figure:
    from embedxfer.map_plots import plot_token_maps

    maps = read_maps(data)
    if len(maps) < 2:
        raise EmbedxferError(
            f"{data.experiment_id} maps one checkpoint; the side-by-side figure needs an experiment with two."
        )
    panels = [(f"{name} ({len(frame):,} shared tokens)", frame) for name, frame in maps[:2]]
    return plot_token_maps(panels, title=_title(data))


FIGURES = (
    FigureSpec("token_map", "Token map", token_map),
    FigureSpec("token_map_pair", "Two checkpoints side by side", token_map_pair),
)
