"""The Board's Layer view: per-layer curves of several experiments stacked in one figure on one x axis, hidden
state k (0 = the embedding output, k = the output of block k).

Each kind that has such a curve declares `layer_curve` (experiments/registry.py): probing's metric by layer,
layer_reinit's keep:k, layer_similarity's best match and equal-depth similarity, stitching's stitch curve. A Layer
view is a board item whose experiment part lists the experiments joined by '+', and whose figure is `layer_view`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.errors import EmbedxferError
from embedxfer.experiments.figure_builders import CURVE_COLUMNS, curve_rows

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData

LAYER_VIEW = "layer_view"
#: how the experiment ids of one Layer view are joined in a board item
JOIN = "+"


def has_layer_curve(kind: str) -> bool:
    from embedxfer.experiments.registry import get_kind

    try:
        return get_kind(kind).layer_curve is not None
    except EmbedxferError:
        return False


def layer_curve(data: ExperimentData) -> pd.DataFrame:
    """The experiment's per-layer curve (columns CURVE_COLUMNS); EmbedxferError when its kind has none."""
    from embedxfer.experiments.registry import get_kind

    kind = get_kind(data.kind)
    if kind.layer_curve is None:
        raise EmbedxferError(
            f"{data.experiment_id} is a {data.kind} experiment, which has no per-layer curve; the Layer view takes "
            "probing, layer_reinit, layer_similarity and stitching experiments."
        )
    return kind.layer_curve(data)


def layer_view_figure(experiments: list[ExperimentData]) -> go.Figure:
    """One panel per experiment, stacked, sharing the hidden-state axis; each series with its 95% band."""
    from plotly.subplots import make_subplots

    from embedxfer.plots import PALETTE, add_band_line, empty_figure

    curves = [(data, layer_curve(data)) for data in experiments]
    if not curves:
        return empty_figure("Pick experiments for the Layer view.", "Layer view")
    titles = [f"{data.kind} · {data.result.get('name') or data.experiment_id}" for data, _ in curves]
    fig = make_subplots(rows=len(curves), cols=1, shared_xaxes=True, subplot_titles=titles, vertical_spacing=0.07)
    color = 0
    for row, (data, curve) in enumerate(curves, start=1):
        for name, part in curve.groupby("series", sort=False):
            stats = part.rename(columns={"layer": "k"})[["k", "mean", "low", "high", "n"]]
            add_band_line(fig, stats, "k", name=str(name), color=PALETTE[color % len(PALETTE)], row=row, col=1)
            color += 1
        fig.update_yaxes(title_text=_y_title(data), row=row, col=1)
    fig.update_xaxes(title_text="hidden state k (0 = embedding output)", dtick=1, row=len(curves), col=1)
    fig.update_layout(
        title="Layer view: per-layer curves on one hidden-state axis",
        template="plotly_white",
        height=240 * len(curves) + 120,
        legend=dict(orientation="h", y=-0.12),
    )
    return fig


def _y_title(data: ExperimentData) -> str:
    return {"layer_similarity": "similarity", "layer_reinit": f"{data.primary_metric} (keep:k)"}.get(
        data.kind, data.primary_metric
    )


__all__ = ["CURVE_COLUMNS", "JOIN", "LAYER_VIEW", "curve_rows", "has_layer_curve", "layer_curve", "layer_view_figure"]
