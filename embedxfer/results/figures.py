"""The figures of an experiment: each kind declares its `FigureSpec`s; the run page, the Board and `export`
list and build them through `figures_for` / `build_figure`, so a new kind's figures appear everywhere.

Builders are functions `build(data: ExperimentData) -> plotly Figure` that only read `data`. The generic ones
below (a condition summary with 95% intervals, a curve of a logged metric against step) serve any kind whose
trials report final metrics and per-step metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from embedxfer.errors import EmbedxferError, StoreError
from embedxfer.experiments import get_kind
from embedxfer.results.data import ExperimentData

if TYPE_CHECKING:
    import plotly.graph_objects as go


@dataclass(frozen=True)
class FigureSpec:
    """A named figure of a kind: `name` goes into board URLs and file names, `title` onto tabs and tiles."""

    name: str
    title: str
    build: Callable[[ExperimentData], go.Figure]


def figures_for(kind: str) -> list[FigureSpec]:
    """The figures kind `kind` declares (none for a kind that is not installed)."""
    try:
        return list(get_kind(kind).figures)
    except EmbedxferError:
        return []


def build_figure(data: ExperimentData, name: str) -> go.Figure:
    """Figure `name` of the experiment; StoreError naming the available figures when it has none of that name."""
    specs = figures_for(data.kind)
    for spec in specs:
        if spec.name == name:
            fig = spec.build(data)
            if not fig.layout.title.text:
                fig.update_layout(title=spec.title)
            return fig
    known = ", ".join(s.name for s in specs) or "none"
    raise StoreError(f"Experiment kind {data.kind!r} has no figure {name!r}; available: {known}.")


# --- generic builders ------------------------------------------------------------------------------------------------


def condition_summary(data: ExperimentData) -> go.Figure:
    """The primary metric per condition (bars: mean and 95% interval over seeds; dots: seeds), one bar colour
    per value of the kind's first group param when it has one."""
    from embedxfer.plots import plot_condition_summary
    from embedxfer.results.summary import group_params

    groups = [p for p in group_params(data.kind) if p in data.trials]
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
