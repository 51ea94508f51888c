"""layer_map's figure: each layer's map of the task's examples, coloured by label, with a layer slider; and the
label agreement by layer (how well each layer's representation separates the labels, full width vs map)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from embedxfer.errors import EmbedxferError
from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData


def read_layer_maps(data: ExperimentData, seed: int | None = None) -> dict[int, pd.DataFrame]:
    """layer -> map frame (example, label, text, x, y) of the completed trials of one seed (the first by default)."""
    import pandas as pd

    from embedxfer.experiments.layer_map.trial import MAP_ARTIFACT

    done = data.completed()
    if done.empty:
        raise EmbedxferError(f"{data.experiment_id} has no finished layer map yet.")
    seed = int(done["seed"].min()) if seed is None else seed
    rows = done[done["seed"] == seed]
    return {
        int(row.layer): pd.read_parquet(io.BytesIO(data.artifact(row.trial_id, MAP_ARTIFACT)))
        for row in rows.itertuples()
    }


def layer_map(data: ExperimentData) -> go.Figure:
    from embedxfer.map_plots import plot_layer_map

    config = data.result["config"]
    title = f"{data.experiment_id}: {config['checkpoint']} on {config['task']} ({config['method']})"
    return plot_layer_map(read_layer_maps(data), title=title)


def label_agreement(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_curves

    return plot_curves(
        data.completed(),
        x="layer",
        value="label_agreement",
        line="condition",
        dashed="map_label_agreement",
        title=f"{data.experiment_id}: share of 10 nearest examples with the same label (dotted: on the 2-D map)",
        x_title="layer (0 = embeddings)",
        y_title="label agreement",
    )


FIGURES = (
    FigureSpec("layer_map", "Layer maps (slider)", layer_map),
    FigureSpec("label_agreement", "Label agreement by layer", label_agreement),
)
