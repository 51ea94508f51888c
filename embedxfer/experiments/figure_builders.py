"""Figure builders and curve rows several kinds share, written over ExperimentData alone (so kinds need no import
of `results/`; see experiments/outputs.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData

#: the columns of a kind's per-layer curve (ExperimentKind.layer_curve, the Board's Layer view)
CURVE_COLUMNS = ("series", "layer", "mean", "low", "high", "n")


def condition_summary(data: ExperimentData) -> go.Figure:
    """The primary metric per condition (bars: mean and 95% interval over seeds; dots: seeds), one bar colour
    per value of the kind's first group param when it has one."""
    from embedxfer.plots import plot_condition_summary

    groups = [p for p in data.group_params if p in data.trials]
    metric = data.primary_metric
    title = f"{data.experiment_id}: {metric} by condition"
    return plot_condition_summary(data.completed(), metric, group=groups[0] if groups else None, title=title)


def metric_curve(metric: str | Callable[[ExperimentData], str], label: str) -> Callable[[ExperimentData], go.Figure]:
    """A builder for `metric` (a logged per-step metric name, or a function of the data giving one) against step,
    per condition with a 95% band over seeds."""

    def build(data: ExperimentData) -> go.Figure:
        from embedxfer.plots import plot_training_curves

        name = metric(data) if callable(metric) else metric
        return plot_training_curves(data.steps, name, title=f"{data.experiment_id}: {label or name}")

    return build


def validation_metric(data: ExperimentData) -> str:
    """The validation twin of the primary metric (test_accuracy -> val_accuracy)."""
    return "val_" + data.primary_metric.removeprefix("test_")


def curve_rows(frame: pd.DataFrame, *, series: str, value: str, layer: str = "layer") -> pd.DataFrame:
    """A kind's completed trials as curve rows: `value` by `layer`, mean and 95% interval over seeds per `series`."""
    import pandas as pd

    from embedxfer.plots import curve_stats

    parts = []
    for name, part in frame.groupby(series, sort=True) if not frame.empty else []:
        stats = curve_stats(part, layer, value).rename(columns={layer: "layer"})
        parts.append(stats.assign(series=str(name)))
    return pd.concat(parts, ignore_index=True)[list(CURVE_COLUMNS)] if parts else pd.DataFrame(columns=CURVE_COLUMNS)
