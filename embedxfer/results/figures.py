"""The figures of an experiment: each kind declares its `FigureSpec`s; the run page, the Board and `export`
list and build them through `figures_for` / `build_figure`, so a new kind's figures appear everywhere.

Builders are functions `build(data: ExperimentData) -> plotly Figure` that only read `data`. The generic ones
below (a condition summary with 95% intervals, a curve of a logged metric against step) serve any kind whose
trials report final metrics and per-step metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.errors import EmbedxferError, StoreError
from embedxfer.experiments import get_kind
from embedxfer.experiments.figure_builders import condition_summary, metric_curve, validation_metric
from embedxfer.experiments.outputs import ExperimentData, FigureSpec

if TYPE_CHECKING:
    import plotly.graph_objects as go


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


# FigureSpec and the generic builders are declared with the kinds (experiments/outputs.py, figure_builders.py);
# named here too, where code written before that move imports them from.
__all__ = ["FigureSpec", "build_figure", "condition_summary", "figures_for", "metric_curve", "validation_metric"]
