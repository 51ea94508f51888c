"""embedding_transfer's figures: condition bars per target, the transfer matrix (source x target, paired gain over
random-matched), paired gains against every baseline, learning curves per target, and fit vs generalization.
Every interval is 95% over seeds; paired ones difference a source and its baseline seed by seed (same training
subset, same scorer initialisation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedxfer.experiments.outputs import FigureSpec

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from embedxfer.experiments.outputs import ExperimentData

_PAIRED_COLUMNS = ["source", "target", "baseline", "mean", "low", "high", "n"]


def _frame(data: ExperimentData) -> pd.DataFrame:
    frame = data.completed()
    if frame.empty or "target" not in frame:
        return frame.iloc[0:0]
    return frame


def _is_source(frame: pd.DataFrame) -> Any:
    return frame["baseline"].isna() if "baseline" in frame else frame["condition"].str.startswith("source:")


def paired_rows(data: ExperimentData, metric: str | None = None) -> pd.DataFrame:
    """Per (source, target, baseline): source minus baseline on `metric` (default primary), paired by seed."""
    import pandas as pd

    from embedxfer.stats import paired_difference

    metric = metric or data.primary_metric
    frame = _frame(data)
    if frame.empty or metric not in frame:
        return pd.DataFrame(columns=_PAIRED_COLUMNS)
    rows = []
    for (source, target), part in frame.groupby(["source", "target"], sort=False):
        own = part[_is_source(part)]
        reference = dict(zip(own["seed"], own[metric], strict=True))
        for baseline, other in part[~_is_source(part)].groupby("baseline", sort=False):
            diff = paired_difference(reference, dict(zip(other["seed"], other[metric], strict=True)))
            if diff.n:
                rows.append([source, target, baseline, diff.mean, diff.ci_low, diff.ci_high, diff.n])
    return pd.DataFrame(rows, columns=_PAIRED_COLUMNS)


def condition_bars(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_condition_summary

    metric = data.primary_metric
    return plot_condition_summary(
        _frame(data),
        metric,
        group="target",
        title=f"{data.experiment_id}: {metric} per condition and target (mean, 95% CI over seeds)",
    )


def transfer_matrix(data: ExperimentData) -> go.Figure:
    """Sources x targets: the paired gain of each source's table over its random-matched baseline, with intervals."""
    import plotly.graph_objects as go

    from embedxfer.heatmaps import gain_heatmap
    from embedxfer.plots import LAYOUT, empty_figure

    metric = data.primary_metric
    title = f"{data.experiment_id}: {metric} gain of each source over random-matched (paired, 95% CI)"
    rows = paired_rows(data)
    rows = rows[rows["baseline"] == "random-matched"]
    if rows.empty:
        return empty_figure("No source with a completed random-matched baseline yet (add it to baselines).", title)
    bound = float(rows["mean"].abs().max()) or 1e-6
    fig = go.Figure(
        gain_heatmap(
            rows,
            y="source",
            x="target",
            bound=bound,
            colorbar="gain",
            hovertemplate="source %{y} into %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="target scorer", yaxis_title="source embedding", **LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def paired_gains(data: ExperimentData) -> go.Figure:
    from embedxfer.plots import plot_interval_bars

    metric = data.primary_metric
    rows = paired_rows(data)
    if not rows.empty:
        rows = rows.assign(comparison=[f"{s} − {b}" for s, b in zip(rows["source"], rows["baseline"], strict=True)])
    return plot_interval_bars(
        rows,
        x="comparison",
        group="target",
        zero_line=True,
        title=f"{data.experiment_id}: {metric}, each source minus each of its baselines (paired, 95% CI)",
        x_title="source − baseline",
        y_title=f"difference in {metric}",
    )


def learning_curves(data: ExperimentData) -> go.Figure:
    """Validation metric against step, one panel per target, one line per condition with its 95% band."""
    from embedxfer.plots import plot_panel_curves

    name = "val_" + data.primary_metric.removeprefix("test_")
    title = f"{data.experiment_id}: {name} during training per target (95% band over seeds)"
    return plot_panel_curves(data.steps, data.trials, name=name, panel="target", title=title)


def fit_vs_generalize(data: ExperimentData) -> go.Figure:
    """Per condition: the metric on the training examples it fitted, on the test split, and on each OOD task."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from embedxfer.plots import CURVE_LAYOUT, PALETTE, empty_figure, interval_whiskers, rgba
    from embedxfer.stats import mean_interval

    metric = data.primary_metric.removeprefix("test_")
    title = f"{data.experiment_id}: {metric} on training examples, test and out-of-distribution (95% CI)"
    frame = _frame(data)
    columns = [c for c in [f"fit_{metric}", f"test_{metric}"] if c in frame]
    columns += sorted(c for c in frame.columns if c.startswith("ood_") and c.endswith(f"_{metric}"))
    if frame.empty or not columns:
        return empty_figure("No completed trials yet.", title)
    targets = list(dict.fromkeys(frame["target"]))
    fig = make_subplots(rows=len(targets), cols=1, subplot_titles=targets, shared_xaxes=True, vertical_spacing=0.12)
    for row, target in enumerate(targets, start=1):
        part = frame[frame["target"] == target]
        conditions = list(dict.fromkeys(part["condition"]))
        for i, column in enumerate(columns):
            stats = [mean_interval(part.loc[part["condition"] == c, column]) for c in conditions]
            label = {"fit": "training examples", "test": "test"}.get(column.split("_")[0], column)
            if column.startswith("ood_"):
                label = "OOD: " + column.removeprefix("ood_").removesuffix(f"_{metric}")
            fig.add_trace(
                go.Bar(
                    x=conditions,
                    y=[s.mean for s in stats],
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1,
                    marker_color=rgba(PALETTE[i % len(PALETTE)], 0.8),
                    error_y=interval_whiskers(stats, thickness=1.2),
                    hovertemplate="%{x}: %{y:.4f}<extra>" + label + "</extra>",
                ),
                row=row,
                col=1,
            )
    fig.update_layout(title=title, barmode="group", height=360 * len(targets) + 120, **CURVE_LAYOUT)
    fig.update_yaxes(title_text=metric)
    return fig


FIGURES = (
    FigureSpec("transfer_matrix", "Transfer matrix: gain over random-matched", transfer_matrix),
    FigureSpec("condition_bars", "Test metric per condition and target", condition_bars),
    FigureSpec("paired_gains", "Each source against each of its baselines", paired_gains),
    FigureSpec("learning_curves", "Validation metric during training", learning_curves),
    FigureSpec("fit_vs_generalize", "Fit vs generalization (train, test, OOD)", fit_vs_generalize),
)
