"""probing's figures: the probe metric by layer per checkpoint (control dotted), and selectivity by layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData


def probe_curve(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_curves

    metric = data.primary_metric
    return plot_curves(
        data.completed(),
        x="layer",
        value=metric,
        line="condition",
        dashed="control_" + metric.removeprefix("test_"),
        title=f"{data.experiment_id}: probe {metric} by layer (dotted: shuffled-label control)",
        x_title="layer (0 = embeddings)",
        y_title=f"probe {metric}",
    )


def selectivity_curve(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_curves

    return plot_curves(
        data.completed(),
        x="layer",
        value="selectivity",
        line="condition",
        title=f"{data.experiment_id}: selectivity by layer (probe minus control)",
        x_title="layer (0 = embeddings)",
        y_title="selectivity",
    )


def layer_curve(data: ExperimentData):
    """The Layer view's curve: the probe metric by layer, one series per checkpoint."""
    from embedxfer.experiments.figure_builders import curve_rows

    return curve_rows(data.completed(), series="condition", value=data.primary_metric)


FIGURES = (
    FigureSpec("probe_curve", "Probe metric by layer", probe_curve),
    FigureSpec("selectivity", "Selectivity by layer", selectivity_curve),
)
